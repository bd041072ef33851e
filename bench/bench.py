#!/usr/bin/env python3
"""Fermata's benchmark: whole-process timings of checkpoint and restore, next to this machine's
own limits measured in the same run.

For each size, a process holding that much incompressible data is checkpointed (the default
mode: image written and fsynced, then the process killed) and restored (until the restored
process runs again, `restore --detach`). The restored process then checks its data. Next to
Fermata's times stand two plain copies of the same bytes:
  - copy to disk:   the image's bytes copied to a new file and fdatasync'ed (what a checkpoint
                    must at least do: put N bytes on disk durably);
  - copy to memory: the image's bytes copied from the page cache into fresh memory (a tmpfs
                    file), which is what a restore must at least do.
The VM these run on backs guest memory lazily, so a warm-up pass touches memory first, every
measurement is repeated and the median is reported.

A job of several processes (--job, default 4 x 256 MiB) is launched with `fermata launch`,
checkpointed with `fermata checkpoint JOBDIR` and restarted with `fermata restart JOBDIR`; its
processes then check their data too.

usage: bench/bench.py [--sizes 256,1024,4096] [--repeat 3] [--job 4x256] [--dir DIR] [--out FILE]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERMATA = os.path.join(ROOT, "fermata")


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def timed(args):
    start = time.perf_counter()
    result = run(args)
    return time.perf_counter() - start, result


def wait_gone(pid, limit=30):
    deadline = time.time() + limit
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.02)


def spawn(args):
    """Starts a process with no descriptors but /dev/null, in its own session."""
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)


def start_holder(holder, work, mib):
    ready = os.path.join(work, f"ready-{mib}")
    for f in (ready, ready + ".restored"):
        if os.path.exists(f):
            os.unlink(f)
    proc = spawn([holder, ready, str(mib)])
    while not os.path.exists(ready):
        if proc.poll() is not None:
            sys.exit(f"the holder process exited early ({proc.returncode})")
        time.sleep(0.02)
    return proc, ready


def verify_restored(pid, ready):
    os.kill(pid, signal.SIGUSR1)
    deadline = time.time() + 120
    verdict = ready + ".restored"
    while time.time() < deadline:
        if os.path.exists(verdict) and open(verdict).read().strip():
            return open(verdict).read().strip()
        time.sleep(0.05)
    return "no answer"


def dir_size(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def copy_to_disk(src, dst):
    start = time.perf_counter()
    run(["dd", f"if={src}", f"of={dst}", "bs=8M", "conv=fdatasync", "status=none"])
    elapsed = time.perf_counter() - start
    os.unlink(dst)
    return elapsed


def copy_to_memory(src):
    dst = "/dev/shm/fermata-bench-copy"
    start = time.perf_counter()
    run(["dd", f"if={src}", f"of={dst}", "bs=8M", "status=none"])
    elapsed = time.perf_counter() - start
    os.unlink(dst)
    return elapsed


def warm_up(holder, work, mib):
    """Touch as much memory as the largest run needs, so the VM has backed it."""
    proc, _ = start_holder(holder, work, mib)
    proc.kill()
    proc.wait()


def measure(holder, work, mib, repeat):
    rows = []
    for _ in range(repeat):
        proc, ready = start_holder(holder, work, mib)
        image = os.path.join(work, f"image-{mib}")
        shutil.rmtree(image, ignore_errors=True)
        checkpoint, out = timed([FERMATA, "checkpoint", str(proc.pid), "--dir", image])
        frozen = float(re.search(r"frozen ([0-9.]+) s", out.stdout).group(1))
        proc.wait()
        wait_gone(proc.pid)
        restore, out = timed([FERMATA, "restore", image, "--detach"])
        pid = int(out.stdout.strip().splitlines()[-1])
        verdict = verify_restored(pid, ready)
        if verdict != "ok":
            sys.exit(f"restored process reports its data {verdict}")
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        size = dir_size(image)
        pages = os.path.join(image, "pages.img")
        disk = copy_to_disk(pages, os.path.join(work, "copy.bin"))
        memory = copy_to_memory(pages)
        rows.append((checkpoint, frozen, restore, size, disk, memory))
        shutil.rmtree(image)
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    return dict(mib=mib, checkpoint=med[0], frozen=med[1], restore=med[2], size=med[3], disk=med[4], memory=med[5])


def holders(work, tag):
    """Host PIDs of the hold processes whose ready file starts with work/tag."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if len(args) > 1 and args[1].decode(errors="replace").startswith(os.path.join(work, tag)):
                pids.append(int(d))
    return pids


def measure_job(holder, work, count, mib, repeat):
    """A job of COUNT processes holding MIB each: checkpoint (stop) and restart, whole-process."""
    rows = []
    for _ in range(repeat):
        jobdir = os.path.join(work, "job")
        shutil.rmtree(jobdir, ignore_errors=True)
        ready = [os.path.join(work, f"jobready-{i}") for i in range(count)]
        for f in ready + [r + ".restored" for r in ready]:
            if os.path.exists(f):
                os.unlink(f)
        script = " ".join(f"{holder} {r} {mib} &" for r in ready) + " wait"
        launcher = subprocess.Popen([FERMATA, "launch", "--dir", jobdir, "--", "sh", "-c", script],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not all(os.path.exists(r) for r in ready):
            time.sleep(0.02)
        checkpoint, _ = timed([FERMATA, "checkpoint", jobdir])
        if launcher.wait() != 75:
            sys.exit("the job's launcher did not stop after the checkpoint")
        start = time.perf_counter()
        restarted = subprocess.Popen([FERMATA, "restart", jobdir], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in restarted.stderr:
            if "restarted job" in line:
                break
        restart = time.perf_counter() - start
        pids = holders(work, "jobready-")
        for pid in pids:
            os.kill(pid, signal.SIGUSR1)
        for r in ready:
            verdict = ""
            while verdict == "":  # the file appears before its verdict is written
                time.sleep(0.02)
                if os.path.exists(r + ".restored"):
                    with open(r + ".restored") as f:
                        verdict = f.read().strip()
            if verdict != "ok":
                sys.exit(f"a restarted job process reports its data {verdict}")
        restarted.kill()
        restarted.wait()
        size = dir_size(os.path.join(jobdir, "1"))
        rows.append((checkpoint, restart, size))
        shutil.rmtree(jobdir)
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    return dict(count=count, mib=mib, checkpoint=med[0], restart=med[1], size=med[2])


def job_table(r, repeat):
    data = (r["count"] * r["mib"]) << 20
    return "\n".join([
        "| job | checkpoint (stop) | restart | image | checkpoint rate | restart rate |",
        "|---|---:|---:|---:|---:|---:|",
        f"| {r['count']} processes x {r['mib']} MiB | {r['checkpoint']:.2f} s | {r['restart']:.2f} s | {r['size'] / (1 << 20):.0f} MiB | "
        f"{data / (1 << 30) / r['checkpoint']:.2f} GiB/s | {data / (1 << 30) / r['restart']:.2f} GiB/s |",
        "",
        f"Median of {repeat} runs; `./fermata checkpoint JOBDIR` (until the image is committed and the job stopped) "
        "and `./fermata restart JOBDIR` (until every process runs again).",
    ])


def table(results, repeat):
    gib = 1 << 30
    lines = [
        f"| data | checkpoint | frozen | restore | image | checkpoint rate | restore rate | copy to disk | copy to memory | checkpoint / copy | restore / copy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        data = r["mib"] << 20
        lines.append(
            f"| {r['mib']} MiB | {r['checkpoint']:.2f} s | {r['frozen']:.2f} s | {r['restore']:.2f} s | "
            f"{r['size'] / (1 << 20):.0f} MiB | {data / gib / r['checkpoint']:.2f} GiB/s | {data / gib / r['restore']:.2f} GiB/s | "
            f"{r['disk']:.2f} s | {r['memory']:.2f} s | {r['checkpoint'] / r['disk']:.2f} | {r['restore'] / r['memory']:.2f} |")
    lines.append("")
    lines.append(f"Median of {repeat} runs; whole-process times of `./fermata checkpoint` and `./fermata restore --detach`.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,1024,4096", help="MiB of data, comma separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where images go (default: a temporary directory under /tmp)")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--job", default="4x256", help="a job of N processes x MiB each ('' to skip)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: restoring processes with their own PIDs needs root")
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.dir or tempfile.mkdtemp(prefix="fermata-bench-")
    os.makedirs(work, exist_ok=True)
    holder = os.path.join(work, "hold")
    run(["gcc", "-O2", "-o", holder, os.path.join(ROOT, "bench", "hold.c")])
    run([FERMATA, "--version"])  # builds Fermata once, outside the measurements
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}; images in {work}", file=sys.stderr)
    warm_up(holder, work, max(sizes) * 2)
    results = []
    for mib in sizes:
        print(f"measuring {mib} MiB ...", file=sys.stderr)
        results.append(measure(holder, work, mib, args.repeat))
    text = table(results, args.repeat)
    if args.job:
        count, mib = (int(x) for x in args.job.split("x"))
        print(f"measuring a job of {count} x {mib} MiB ...", file=sys.stderr)
        text += "\n\n" + job_table(measure_job(holder, work, count, mib, args.repeat), args.repeat)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
