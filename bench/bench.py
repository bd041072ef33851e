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

`fermata run` (--run, default 1 GiB): a process under `fermata run` is sent USR1 (the walltime
signal) and timed until the launcher exits, checkpoint included; then run again until it runs.

Compression (--compression, default 1 GiB): a process holding half compressible data (no two
pages alike, none all-zero, so neither deduplication nor the zero-page check can stand in for the
codec) and half random bytes, then one holding only random bytes, checkpointed with each of
--compress none, lz4 and zstd (one run of each mode per round, so that a noisy moment does not
favour one mode) and restored. The plain copies are of the uncompressed bytes (the `none`
image's page store): what saving and loading that memory costs without Fermata.

Incremental (--incremental, default 4 GiB of the same half compressible data): a full checkpoint
with --leave-running, then the process rewrites a word in every 20th page (5% of its pages,
spread over the whole range) and a second checkpoint --parent FULL --leave-running stores only
those; `inspect --json` must show the rest inherited by write tracking. Both images are then
restored (the incremental one composes both) and the restored processes check their data.

A job of several processes (--job, default 4 x 256 MiB) is launched with `fermata launch`,
checkpointed with `fermata checkpoint JOBDIR` and restarted with `fermata restart JOBDIR`; its
processes then check their data too.

Many processes (--processes, default 100,400,1000): a job of a parent and that many small
children (tests/workloads/swarm.c), each appending a numbered line to one log every second, is
checkpointed (stop) and restarted; the restarted children must each go on with the next number.
Whole-process times, the frozen time the launcher logs, and the cost per process.

Connections (--connections, default 1000): a job of a server and its client holding that many
TCP connections between them (bench/conns.c), each with bytes waiting both ways, is checkpointed
(stop) and restarted, alternating with the same job holding one connection; the difference over
the sockets is the cost per socket. The restarted job then checks every connection.

Files (--files, default 1024): a job holding a file of that many MiB open read-write
(bench/filejob.c), which rewrites one word in every 20th page of it (5% of its pages) between
two checkpoints that leave it running: the first captures the whole file, the second (incremental)
what changed. The job, its file and its checkpoints lie on the work directory's file system
(ext4 here: the file's pages are copied, unchanged ones taken from the parent by identity), then
on a loop-mounted XFS the script makes (`mkfs.xfs -m reflink=1`, --xfs-size MiB): the file is
cloned into each image, and FIEMAP shows how much of the clone is shared with the file. Each
checkpoint's whole-process time, the frozen time and the phases that capture the file as the
launcher logs them, the image (manifest and page store, then clones apart) are reported.

Lazy restore (--lazy, default 1024,8192 MiB): a process holding that much random data
(bench/wakeup.c) is checkpointed once, then restored alternately with `restore --detach` and
`restore --lazy --detach`, and each time the program itself writes the moment it runs again
(it notices it did not run for over 100 ms): time to running is that moment less the moment the
benchmark started the restoring command. Only then does the program read all its data and check
it. For the lazy restore, the time until every page is in (the command says so) is reported too.

Scale (--scale, off by default; e.g. 256,1024,4096,16384): per size, a process holding that many
MiB of random bytes is checkpointed with --leave-running, rewrites a word in every 20th page,
is checkpointed incrementally (--parent --leave-running), is killed, and the full image is
restored and checks its data. Each command's time and the controller's own peak memory (its
VmHWM and the most anonymous memory it held, polled from /proc/PID/status), and the slope in MiB
per GiB of target between the smallest and largest size. Sizes are alternated, one round up and
the next down, so that a noisy moment spreads over all of them.

Fixed cost (--fixed N, default 20): what every command costs however little it does, for each
build side by side: the native binary ./fermata builds (Native AOT, run directly and through the
./fermata script) and the .NET build it falls back to (ReadyToRun, run with dotnet; the script
publishes it into the work directory). `fermata --version` (starting and exiting), `fermata
inspect` of a tiny image (a process holding 1 MiB) and `fermata checkpoint` of such a process (a
fresh one each time, killed by the checkpoint); the builds alternate within each round, N rounds,
median. The checkpoint's phases (FERMATA_TIMINGS=1) of each build follow the table.

The compression section then runs again with its images on a tmpfs (--tmpfs, default /dev/shm),
where no disk stands between the modes and only their CPU work shows.

Every command runs with FERMATA_TIMINGS=1; the median of each phase is printed after the
compression and incremental tables.

Live checkpoints (--live, default 1024,8192): see bench/live.py. Beside CRIU (--criu PATH, a
CRIU binary built outside the repository; --criu-size, default 1024): see bench/criu.py.

usage: bench/bench.py [--sizes 256,1024,4096] [--compression 1024] [--tmpfs /dev/shm] [--lazy 1024,8192]
                      [--incremental 4096] [--job 4x256] [--processes 100,400,1000]
                      [--connections 1000] [--files 1024]
                      [--xfs-size 4096] [--scale 256,1024,4096] [--live 1024,8192] [--criu PATH] [--fixed 20]
                      [--repeat 3] [--dir DIR] [--out FILE]
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# FERMATA_BENCH_CLI: another build's entry point (a script that runs it), to compare builds.
FERMATA = os.environ.get("FERMATA_BENCH_CLI") or os.path.join(ROOT, "fermata")


MODES = ("none", "lz4", "zstd")
TIMINGS = dict(os.environ, FERMATA_TIMINGS="1")


def run(args, **kw):
    try:
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)
    except subprocess.CalledProcessError as e:
        sys.exit(f"{' '.join(args)} failed ({e.returncode}):\n{e.stdout}{e.stderr}")


def timed(args):
    start = time.perf_counter()
    result = run(args, env=TIMINGS)
    return time.perf_counter() - start, result


def phases(result):
    """The phase breakdown FERMATA_TIMINGS=1 prints: {phase: seconds}."""
    found = {}
    for m in re.finditer(r"^fermata: timing: (.+?)\s+([0-9.]+) ms$", result.stderr, re.M):
        found[m.group(1)] = found.get(m.group(1), 0) + float(m.group(2)) / 1000
    return found


def memory_of(pid):
    """(VmHWM, RssAnon) of PID in MiB: its peak resident memory so far, and its anonymous
    resident memory now (the controller's own; VmHWM also counts the files it maps, such as the
    pages.img a restore hands to the kernel); (0, 0) once it is gone."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "RssAnon:")):
                    found[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return found.get("VmHWM", 0), found.get("RssAnon", 0)


def timed_rss(args):
    """Like timed(), and the command's own peak memory in MiB: its VmHWM and the most anonymous
    memory it held, read every 20 ms while it runs (a process it forks, such as a restored one,
    is not counted)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=TIMINGS, text=True)
        peak = anon = 0
        while proc.poll() is None:
            hwm, now = memory_of(proc.pid)
            peak, anon = max(peak, hwm), max(anon, now)
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed, result, (peak, anon)


def frozen_of(result):
    """The frozen time the checkpoint line prints: "...; frozen 0.462 s, total 0.571 s; ..."."""
    return float(re.search(r"frozen ([0-9.]+) s", result.stdout).group(1))


def restore(image, ready):
    """Restores IMAGE (--detach), has the process check its data, kills it; the restore's time."""
    elapsed, out = timed([FERMATA, "restore", image, "--detach"])
    pid = int(out.stdout.strip().splitlines()[-1])
    verdict = verify_restored(pid, ready)
    if verdict != "ok":
        sys.exit(f"the process restored from {image} reports its data {verdict}")
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    return elapsed, phases(out)


def wait_gone(pid, limit=30):
    deadline = time.time() + limit
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.02)


def spawn(args):
    """Starts a process with no descriptors but /dev/null, in its own session."""
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)


def start_holder(holder, work, mib, data="random"):
    ready = os.path.join(work, f"ready-{mib}")
    for f in (ready, ready + ".restored", ready + ".dirtied"):
        if os.path.exists(f):
            os.unlink(f)
    proc = spawn([holder, ready, str(mib), data])
    while not os.path.exists(ready):
        if proc.poll() is not None:
            sys.exit(f"the holder process exited early ({proc.returncode})")
        time.sleep(0.02)
    return proc, ready


def answer(path, limit=120):
    """The word the holder writes to PATH, once it has written it."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                word = f.read().strip()
            if word:
                return word
        time.sleep(0.05)
    return "no answer"


def verify_restored(pid, ready):
    if os.path.exists(ready + ".restored"):
        os.unlink(ready + ".restored")
    os.kill(pid, signal.SIGUSR1)
    return answer(ready + ".restored")


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
        frozen = frozen_of(out)
        proc.wait()
        wait_gone(proc.pid)
        restored, _ = restore(image, ready)
        size = dir_size(image)
        pages = os.path.join(image, "pages.img")
        disk = copy_to_disk(pages, os.path.join(work, "copy.bin"))
        memory = copy_to_memory(pages)
        rows.append((checkpoint, frozen, restored, size, disk, memory))
        shutil.rmtree(image)
    med = [statistics.median(r[i] for r in rows) for i in range(6)]
    return dict(mib=mib, checkpoint=med[0], frozen=med[1], restore=med[2], size=med[3], disk=med[4], memory=med[5])


def measure_lazy(wakeup, work, mib, repeat):
    """Time to running of eager and lazy restores of one image, alternating; medians."""
    ready = os.path.join(work, f"wakeup-{mib}")
    image = os.path.join(work, f"lazy-image-{mib}")

    def clear():
        for f in (ready, ready + ".running", ready + ".restored"):
            if os.path.exists(f):
                os.unlink(f)

    # The program takes any pause of over 100 ms for its restore: one the machine itself caused
    # before the checkpoint (these VMs stall that long now and then) has it report "running"
    # too early, and such an image measures nothing. Take it again.
    for attempt in range(5):
        clear()
        proc = spawn([wakeup, ready, str(mib)])
        answer(ready, limit=600)
        shutil.rmtree(image, ignore_errors=True)
        taken = subprocess.run([FERMATA, "checkpoint", str(proc.pid), "--dir", image], capture_output=True, text=True)
        proc.wait()
        # A pause long enough may even have let it check its data and exit before the checkpoint.
        if taken.returncode != 0 and not os.path.exists(ready + ".running"):
            sys.exit(f"{FERMATA} checkpoint {proc.pid} failed ({taken.returncode}):\n{taken.stdout}{taken.stderr}")
        if not os.path.exists(ready + ".running"):
            break
        print(f"  the {mib} MiB program paused before its checkpoint; taking it again", file=sys.stderr)
    else:
        sys.exit(f"the {mib} MiB program kept pausing before its checkpoint: this machine is too busy to measure")
    pid = proc.pid
    rows = {"eager": [], "lazy": []}
    for i in range(repeat):
        for mode in (("eager", "lazy") if i % 2 == 0 else ("lazy", "eager")):
            wait_gone(pid)
            clear()
            args = [FERMATA, "restore", image, "--detach"] + (["--lazy"] if mode == "lazy" else [])
            started = time.time_ns()
            t0 = time.perf_counter()
            out = run(args, env=TIMINGS)
            returned = time.perf_counter() - t0
            word = answer(ready + ".running")
            if not word.isdigit():
                sys.exit(f"the process restored ({mode}) from {image} did not run again within 2 minutes; "
                         f"the restore said: {out.stdout.strip()} {out.stderr.strip()}")
            running = (int(word) - started) / 1e9
            verdict = answer(ready + ".restored", limit=600)
            if verdict != "ok":
                sys.exit(f"the process restored ({mode}) from {image} reports its data {verdict}")
            m = re.search(r"every page is in, ([0-9.]+) s", out.stderr)
            rows[mode].append((running, float(m.group(1)) if m else returned, returned))
    wait_gone(pid)
    shutil.rmtree(image)
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in rows.items()}
    return dict(mib=mib, eager=med["eager"], lazy=med["lazy"])


def lazy_table(results, repeat):
    lines = [f"Time to running, eager and lazy restore (median of {repeat}, alternating)", "",
             "| memory | eager: running again | lazy: running again | lazy: every page in | eager: command returned |",
             "|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['mib']} MiB | {r['eager'][0]:.3f} s | {r['lazy'][0]:.3f} s | {r['lazy'][1]:.3f} s | {r['eager'][2]:.3f} s |")
    return "\n".join(lines)


def inspect_pages(image):
    return json.loads(run([FERMATA, "inspect", image, "--json"]).stdout)["pages"]


def median_phases(runs):
    names = []
    for r in runs:
        names += [n for n in r if n not in names]
    return {n: statistics.median(r.get(n, 0.0) for r in runs) for n in names}


def measure_compression(holder, work, mib, repeat, images, kinds=("mixed", "random")):
    """For each kind of data and each --compress mode: checkpoint (the default: the process is
    killed) into IMAGES, restore, image size; one run of every mode per round. The copies are of
    the uncompressed bytes (the `none` image's page store), into IMAGES and into memory."""
    results = {}
    for data in kinds:
        runs = {mode: [] for mode in MODES}
        copies = []
        for _ in range(repeat):
            for mode in MODES:
                proc, ready = start_holder(holder, work, mib, data)
                image = os.path.join(images, f"image-{mode}")
                shutil.rmtree(image, ignore_errors=True)
                checkpoint, out = timed([FERMATA, "checkpoint", str(proc.pid), "--dir", image, "--compress", mode])
                proc.wait()
                wait_gone(proc.pid)
                pages = inspect_pages(image)
                if pages["compression"] != mode:
                    sys.exit(f"--compress {mode} made an image that says {pages['compression']}")
                restored, restore_phases = restore(image, ready)
                runs[mode].append(dict(checkpoint=checkpoint, frozen=frozen_of(out), restore=restored,
                                       size=dir_size(image), stored=pages["stored_bytes"], compressed=pages["compressed_bytes"],
                                       phases=phases(out), restore_phases=restore_phases))
                r = runs[mode][-1]
                print(f"  {data} {mode}: checkpoint {r['checkpoint']:.2f} s (frozen {r['frozen']:.2f} s), restore {r['restore']:.2f} s", file=sys.stderr)
                if mode == "none":
                    store = os.path.join(image, "pages.img")
                    copies.append((copy_to_disk(store, os.path.join(images, "copy.bin")), copy_to_memory(store)))
                shutil.rmtree(image)
        results[data] = dict(
            disk=statistics.median(c[0] for c in copies), memory=statistics.median(c[1] for c in copies),
            modes={mode: dict({k: statistics.median(r[k] for r in rs) for k in ("checkpoint", "frozen", "restore", "size", "stored", "compressed")},
                              phases=median_phases([r["phases"] for r in rs]), restore_phases=median_phases([r["restore_phases"] for r in rs]))
                   for mode, rs in runs.items()})
    return results


DATA_NAMES = {"mixed": "half compressible, half random", "random": "random"}


def compression_table(results, mib, repeat, tmpfs=False):
    gib = 1 << 30
    data = mib << 20
    target = "copy to tmpfs" if tmpfs else "copy to disk"
    lines = [
        f"| data | compression | checkpoint | frozen | restore | image | ratio | checkpoint rate | restore rate | {target} | copy to memory | checkpoint / copy | restore / copy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, r in results.items():
        for mode, m in r["modes"].items():
            lines.append(
                f"| {mib} MiB {DATA_NAMES[kind]} | {mode} | {m['checkpoint']:.2f} s | {m['frozen']:.2f} s | {m['restore']:.2f} s | "
                f"{m['size'] / (1 << 20):.0f} MiB | {m['stored'] / max(m['compressed'], 1):.2f} | {data / gib / m['checkpoint']:.2f} GiB/s | "
                f"{data / gib / m['restore']:.2f} GiB/s | {r['disk']:.2f} s | {r['memory']:.2f} s | "
                f"{m['checkpoint'] / r['disk']:.2f} | {m['restore'] / r['memory']:.2f} |")
    lines.append("")
    lines.append(f"Median of {repeat} runs{', images on tmpfs (/dev/shm): no disk, only the CPU work' if tmpfs else ''}; "
                 "`./fermata checkpoint PID --dir DIR --compress MODE` (process killed) and "
                 "`./fermata restore DIR --detach`; ratio = page bytes / bytes in the image; the copies are of the uncompressed "
                 "bytes (the `none` image's page store).")
    return "\n".join(lines)


def phase_table(columns, title, least=0.005, digits=0):
    """columns: [(heading, {phase: seconds})]: phases taking LEAST seconds (5 ms) or more
    somewhere, in ms."""
    names = []
    for _, ph in columns:
        names += [n for n in ph if n not in names]
    names = [n for n in names if any(ph.get(n, 0) >= least for _, ph in columns)]
    lines = [f"| {title} | " + " | ".join(h for h, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{ph.get(n, 0) * 1000:.{digits}f}" for _, ph in columns) + " |")
    return "\n".join(lines)


def compression_phases(results):
    cols = [(f"{kind} {mode}", m["phases"]) for kind, r in results.items() for mode, m in r["modes"].items()]
    rcols = [(f"{kind} {mode}", m["restore_phases"]) for kind, r in results.items() for mode, m in r["modes"].items()]
    return ("Checkpoint phases (ms, median; FERMATA_TIMINGS=1):\n\n" + phase_table(cols, "checkpoint phase") +
            "\n\nRestore phases (ms, median):\n\n" + phase_table(rcols, "restore phase"))


def measure_incremental(holder, work, mib, repeat):
    """A full checkpoint --leave-running, 5% of the pages rewritten, an incremental checkpoint
    --parent --leave-running; then both images restored and checked."""
    rows = []
    for _ in range(repeat):
        proc, ready = start_holder(holder, work, mib, "mixed")
        full, inc = os.path.join(work, "full"), os.path.join(work, "incremental")
        for d in (full, inc):
            shutil.rmtree(d, ignore_errors=True)
        full_time, full_out = timed([FERMATA, "checkpoint", str(proc.pid), "--dir", full, "--leave-running"])
        os.kill(proc.pid, signal.SIGUSR2)
        if answer(ready + ".dirtied") != "dirtied":
            sys.exit("the holder did not rewrite its pages")
        inc_time, inc_out = timed([FERMATA, "checkpoint", str(proc.pid), "--dir", inc, "--parent", full, "--leave-running"])
        proc.kill()
        proc.wait()
        wait_gone(proc.pid)
        full_pages, inc_pages = inspect_pages(full), inspect_pages(inc)
        # 95% of the pages were not written since the full checkpoint: the tracker must know it.
        if inc_pages["inherited_by_tracking"] < 0.9 * full_pages["total"] or inc_pages["stored"] > 0.1 * full_pages["total"]:
            sys.exit(f"the incremental checkpoint did not inherit the unwritten pages by write tracking: {inc_pages}")
        # The full image holds the process as it was before it rewrote its pages, checksum included.
        full_restore, full_restore_phases = restore(full, ready)
        inc_restore, inc_restore_phases = restore(inc, ready)
        rows.append(dict(full=full_time, full_frozen=frozen_of(full_out), full_size=dir_size(full), full_pages=full_pages,
                         full_restore=full_restore, inc=inc_time, inc_frozen=frozen_of(inc_out), inc_size=dir_size(inc),
                         inc_pages=inc_pages, inc_restore=inc_restore, full_phases=phases(full_out), inc_phases=phases(inc_out),
                         full_restore_phases=full_restore_phases, inc_restore_phases=inc_restore_phases))
        r = rows[-1]
        print(f"  full {r['full']:.2f} s (frozen {r['full_frozen']:.2f} s), incremental {r['inc']:.2f} s (frozen {r['inc_frozen']:.2f} s, "
              f"copy pages {r['inc_phases'].get('copy pages', 0):.2f} s); restores {r['full_restore']:.2f} s, {r['inc_restore']:.2f} s", file=sys.stderr)
        for d in (full, inc):
            shutil.rmtree(d)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if not isinstance(rows[0][k], dict)}
    for k in ("full_phases", "inc_phases", "full_restore_phases", "inc_restore_phases"):
        med[k] = median_phases([r[k] for r in rows])
    mid = sorted(rows, key=lambda r: r["inc"])[len(rows) // 2]
    med["full_pages"], med["inc_pages"] = mid["full_pages"], mid["inc_pages"]
    med["mib"] = mib
    return med


def measure_scale(holder, work, sizes, repeat):
    """Per size: a full checkpoint --leave-running, 5% of the pages rewritten, an incremental
    checkpoint --parent --leave-running, the process killed and the full image restored (and
    checked). Each command's time and the controller's peak RSS. Sizes alternate (up, then down)
    so that a noisy moment spreads over all of them."""
    rows = {mib: [] for mib in sizes}
    for round in range(repeat):
        for mib in (sizes if round % 2 == 0 else list(reversed(sizes))):
            proc, ready = start_holder(holder, work, mib)
            full, inc = os.path.join(work, "scale-full"), os.path.join(work, "scale-incremental")
            for d in (full, inc):
                shutil.rmtree(d, ignore_errors=True)
            ck, ck_out, ck_rss = timed_rss([FERMATA, "checkpoint", str(proc.pid), "--dir", full, "--leave-running"])
            os.kill(proc.pid, signal.SIGUSR2)
            if answer(ready + ".dirtied") != "dirtied":
                sys.exit("the holder did not rewrite its pages")
            ic, ic_out, ic_rss = timed_rss([FERMATA, "checkpoint", str(proc.pid), "--dir", inc, "--parent", full, "--leave-running"])
            proc.kill()
            proc.wait()
            wait_gone(proc.pid)
            rs, rs_out, rs_rss = timed_rss([FERMATA, "restore", full, "--detach"])
            pid = int(rs_out.stdout.strip().splitlines()[-1])
            if verify_restored(pid, ready) != "ok":
                sys.exit(f"the process restored from {full} reports its data corrupt")
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
            manifest = os.path.getsize(os.path.join(full, "manifest.img"))
            rows[mib].append(dict(checkpoint=ck, frozen=frozen_of(ck_out), checkpoint_rss=ck_rss[0], checkpoint_anon=ck_rss[1],
                                  inc=ic, inc_frozen=frozen_of(ic_out), inc_rss=ic_rss[0], inc_anon=ic_rss[1],
                                  restore=rs, restore_rss=rs_rss[0], restore_anon=rs_rss[1], manifest=manifest))
            print(f"  {mib} MiB: checkpoint {ck:.2f} s ({ck_rss[0]:.0f}/{ck_rss[1]:.0f} MiB), incremental {ic:.2f} s "
                  f"({ic_rss[0]:.0f}/{ic_rss[1]:.0f} MiB), restore {rs:.2f} s ({rs_rss[0]:.0f}/{rs_rss[1]:.0f} MiB)", file=sys.stderr)
            for d in (full, inc):
                shutil.rmtree(d)
    return [dict(mib=mib, **{k: statistics.median(r[k] for r in rows[mib]) for k in rows[mib][0]}) for mib in sizes]


def scale_table(results, repeat):
    keys = ("checkpoint", "inc", "restore")
    lines = [
        "| data | full checkpoint | frozen | incremental (5% written) | restore | manifest | controller peak RSS (VmHWM / anonymous): checkpoint | incremental | restore |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mib']} MiB | {r['checkpoint']:.2f} s | {r['frozen']:.2f} s | {r['inc']:.2f} s | {r['restore']:.2f} s | "
            f"{r['manifest'] / (1 << 20):.1f} MiB | " + " | ".join(f"{r[k + '_rss']:.0f} / {r[k + '_anon']:.0f} MiB" for k in keys) + " |")
    if len(results) > 1:
        lo, hi = results[0], results[-1]
        gib = (hi["mib"] - lo["mib"]) / 1024
        if gib > 0:
            lines.append("| MiB per GiB of target | | | | | | " + " | ".join(
                f"{(hi[k + '_rss'] - lo[k + '_rss']) / gib:.1f} / {(hi[k + '_anon'] - lo[k + '_anon']) / gib:.1f}" for k in keys) + " |")
    lines.append("")
    lines.append(f"Median of {repeat} runs, sizes alternated; incompressible data; `checkpoint --leave-running`, then "
                 "`checkpoint --parent FULL --leave-running` after the process rewrote a word in every 20th page, then "
                 "`restore FULL --detach`. Peak RSS is the controller's own, runtime included, read "
                 "every 20 ms: VmHWM, which also counts the pages of pages.img a restore maps to hand raw blocks to the kernel "
                 "(page cache, not the controller's), and the most anonymous memory (RssAnon) seen; "
                 "MiB per GiB is the slope between the smallest and the largest size.")
    return "\n".join(lines)


def incremental_table(r, repeat):
    mib = r["mib"]
    fp, ip = r["full_pages"], r["inc_pages"]

    def pages(p):
        return (f"{p['stored']} stored ({p['stored_bytes'] / (1 << 20):.0f} MiB), "
                f"{p['inherited_by_tracking']} + {p['inherited_by_comparison']} inherited, {p['zero']} zero, {p['deduplicated']} duplicates")
    lines = [
        f"| {mib} MiB, half compressible (lz4) | checkpoint | frozen | image | pages (stored, inherited by tracking + by comparison) | restore |",
        "|---|---:|---:|---:|---|---:|",
        f"| full, `--leave-running` | {r['full']:.2f} s | {r['full_frozen']:.2f} s | {r['full_size'] / (1 << 20):.0f} MiB | {pages(fp)} | {r['full_restore']:.2f} s |",
        f"| incremental after rewriting 5% of the pages, `--parent FULL --leave-running` | {r['inc']:.2f} s | {r['inc_frozen']:.2f} s | "
        f"{r['inc_size'] / (1 << 20):.0f} MiB | {pages(ip)} | {r['inc_restore']:.2f} s |",
        f"| incremental / full | {r['inc'] / r['full']:.1%} | {r['inc_frozen'] / r['full_frozen']:.1%} | {r['inc_size'] / r['full_size']:.1%} | | {r['inc_restore'] / r['full_restore']:.2f} |",
        "",
        f"Median of {repeat} runs (the page counts are those of the median incremental run); whole-process times of "
        "`./fermata checkpoint` and `./fermata restore --detach`; restoring the incremental image reads pages from both images.",
        "",
        "Phases (ms, median; FERMATA_TIMINGS=1):",
        "",
        phase_table([("full", r["full_phases"]), ("incremental", r["inc_phases"])], "checkpoint phase"),
        "",
        phase_table([("full", r["full_restore_phases"]), ("incremental", r["inc_restore_phases"])], "restore phase"),
    ]
    return "\n".join(lines)


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


def start_until(args, marker):
    """Starts ARGS and waits for a line of its standard error containing MARKER; returns the
    process (still running) and the seconds that took."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if marker in line:
            break
    return proc, time.perf_counter() - start


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
        restarted, restart = start_until([FERMATA, "restart", jobdir], "restarted job")
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


def swarm_lines(log, offset=0):
    """{child: [numbers]} of the swarm log from byte OFFSET on."""
    found = {}
    with open(log, "rb") as f:
        f.seek(offset)
        for line in f.read().decode().splitlines():
            k, n = line.split()
            found.setdefault(int(k), []).append(int(n))
    return found


def launch_swarm(fermata, swarm, work, count, env=None):
    """Launches a job of COUNT swarm children (and their parent) under FERMATA in WORK, in place
    of the last one, and waits until every child runs; returns the launcher, the job's directory,
    the children's log and the launcher's stderr (where it logs each checkpoint)."""
    jobdir, log, ready = (os.path.join(work, f"swarm-{x}") for x in ("job", "log", "ready"))
    shutil.rmtree(jobdir, ignore_errors=True)
    for f in (log, ready):
        if os.path.exists(f):
            os.unlink(f)
    launch_log = os.path.join(work, "swarm-launch.log")
    with open(launch_log, "w") as err:
        launcher = subprocess.Popen([fermata, "launch", "--dir", jobdir, "--", swarm, str(count), log, ready,
                                     "1000000000", "1000", "1000000000", os.path.join(work, "swarm-gate")],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
    while not os.path.exists(ready):
        time.sleep(0.02)
    return launcher, jobdir, log, launch_log


def measure_processes(swarm, work, count, repeat):
    """A job of COUNT small processes (and their parent): checkpoint (stop) and restart,
    whole-process; the frozen time as the launcher logs it. The restarted children must each
    write the number after the last one they wrote before."""
    rows = []
    for _ in range(repeat):
        launcher, jobdir, log, launch_log = launch_swarm(FERMATA, swarm, work, count, TIMINGS)
        checkpoint, _ = timed([FERMATA, "checkpoint", jobdir])
        if launcher.wait() != 75:
            sys.exit("the job's launcher did not stop after the checkpoint")
        frozen, _, _, _ = launcher_checkpoint(launch_log, 1)
        before = swarm_lines(log)
        offset = os.path.getsize(log)
        restarted, restart = start_until([FERMATA, "restart", jobdir], "restarted job")
        deadline = time.time() + 60
        while True:
            after = swarm_lines(log, offset)
            if len(after) == count or time.time() > deadline:
                break
            time.sleep(0.2)
        wrong = [k for k in before if after.get(k, [None])[0] != before[k][-1] + 1]
        if len(before) != count or wrong:
            sys.exit(f"after the restart {len(wrong)} of {count} children did not go on with their next number")
        restarted.kill()
        restarted.wait()
        gone_by = time.time() + 30
        while holders_of(swarm) and time.time() < gone_by:
            time.sleep(0.05)
        rows.append((checkpoint, frozen, restart))
        shutil.rmtree(jobdir)
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    return dict(count=count, checkpoint=med[0], frozen=med[1], restart=med[2])


def processes_table(results, repeat):
    lines = [
        "| job | checkpoint (stop) | frozen | restart | checkpoint per process | frozen per process | restart per process |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        n = r["count"] + 1  # and their parent
        lines.append(f"| {n} processes | {r['checkpoint']:.2f} s | {r['frozen']:.2f} s | {r['restart']:.2f} s | "
                     f"{r['checkpoint'] / n * 1000:.1f} ms | {r['frozen'] / n * 1000:.1f} ms | {r['restart'] / n * 1000:.1f} ms |")
    lines += ["", f"Median of {repeat} runs; a parent and its children (tests/workloads/swarm.c), the job's init apart; "
              "`./fermata checkpoint JOBDIR` until the image is committed and the job stopped, the frozen time the launcher logs, "
              "`./fermata restart JOBDIR` until every process runs again."]
    return "\n".join(lines)


def measure_connections(conns, work, count, repeat):
    """A job of a server and a client with COUNT TCP connections between them, next to the same
    job with one: checkpoint (stop) and restart, whole-process, and the launcher's frozen time."""
    rows = {1: [], count: []}
    for _ in range(repeat):
        for n in (1, count):  # alternated, so that a noisy moment does not favour one
            jobdir = os.path.join(work, f"conns-{n}")
            ready = os.path.join(work, f"conns-ready-{n}")
            shutil.rmtree(jobdir, ignore_errors=True)
            for f in (ready, ready + ".checked"):
                if os.path.exists(f):
                    os.unlink(f)
            launcher = subprocess.Popen([FERMATA, "launch", "--dir", jobdir, "--", conns, ready, str(n)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            while not os.path.exists(ready):
                time.sleep(0.02)
            checkpoint, _ = timed([FERMATA, "checkpoint", jobdir])
            log = launcher.communicate()[1]
            if launcher.returncode != 75:
                sys.exit(f"the connections job's launcher did not stop after the checkpoint:\n{log}")
            found = re.search(r"frozen (\d+) ms", log)
            frozen = int(found.group(1)) / 1000 if found else float("nan")
            restarted, restart = start_until([FERMATA, "restart", jobdir], "restarted job")
            for pid in holders(work, f"conns-ready-{n}"):
                os.kill(pid, signal.SIGUSR1)
            verdict = ""
            while not verdict.endswith("\n"):
                time.sleep(0.02)
                if os.path.exists(ready + ".checked"):
                    with open(ready + ".checked") as f:
                        verdict = f.read()
            if verdict.strip() != f"ok {n}":
                sys.exit(f"the restarted connections job reports: {verdict.strip()}")
            restarted.wait()
            rows[n].append((checkpoint, frozen, restart))
            shutil.rmtree(jobdir)
    med = {n: [statistics.median(r[i] for r in rows[n]) for i in range(3)] for n in rows}
    return dict(count=count, one=med[1], many=med[count])


def connections_table(r, repeat):
    sockets = 2 * (r["count"] - 1)  # both ends of each connection beyond the first
    lines = [
        "| job | checkpoint (stop) | frozen | restart |",
        "|---|---:|---:|---:|",
    ]
    for label, (c, f, rs) in ((f"server + client, 1 connection", r["one"]), (f"server + client, {r['count']} connections", r["many"])):
        lines.append(f"| {label} | {c:.2f} s | {f:.2f} s | {rs:.2f} s |")
    per = [(r["many"][i] - r["one"][i]) / sockets * 1e6 for i in range(3)]
    lines.append(f"| per socket | {per[0]:.0f} µs | {per[1]:.0f} µs | {per[2]:.0f} µs |")
    lines.append("")
    lines.append(f"Median of {repeat} runs, the two jobs alternated; `./fermata checkpoint JOBDIR` and `./fermata restart JOBDIR` "
                 "(until the job runs again), the frozen time as the launcher logs it. Per socket: the difference over the "
                 f"{sockets} sockets of the extra connections (both ends).")
    return "\n".join(lines)


def measure_run(holder, work, mib, repeat):
    """`fermata run` of a process holding MIB (half compressible): from USR1 (the walltime signal)
    to the launcher's exit, the checkpoint included; then the next `fermata run` until the job runs
    again from that checkpoint."""
    rows = []
    for _ in range(repeat):
        rundir = os.path.join(work, "run")
        shutil.rmtree(rundir, ignore_errors=True)
        ready = os.path.join(work, "runready")
        for f in (ready, ready + ".restored"):
            if os.path.exists(f):
                os.unlink(f)
        first = subprocess.Popen([FERMATA, "run", "--dir", rundir, "--", holder, ready, str(mib), "mixed"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(ready):
            if first.poll() is not None:
                sys.exit(f"fermata run exited early ({first.returncode})")
            time.sleep(0.02)
        start = time.perf_counter()
        os.kill(first.pid, signal.SIGUSR1)
        if first.wait() != 75:
            sys.exit(f"fermata run did not stop with status 75 after USR1 ({first.returncode})")
        stop = time.perf_counter() - start
        second, resume = start_until([FERMATA, "run", "--dir", rundir, "--", holder, ready, str(mib), "mixed"], "restarted from")
        verdict = verify_restored(holders(work, "runready")[0], ready)
        if verdict != "ok":
            sys.exit(f"the process run again reports its data {verdict}")
        second.kill()
        second.wait()
        size = dir_size(os.path.join(rundir, "1"))
        rows.append((stop, resume, size))
        shutil.rmtree(rundir)
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    return dict(mib=mib, stop=med[0], resume=med[1], size=med[2])


def fixed_builds(work):
    """The builds the fixed-cost section compares: {name: command prefix}. The native binary is
    the one ./fermata runs (built with --build-native if needed); the .NET build is published here
    the way ./fermata builds it where the native binary cannot be built."""
    native = os.path.join(work, "fermata-native")
    run([FERMATA, "--build-native", native])
    dotnet = os.path.join(work, "dotnet-build")
    run(["dotnet", "publish", os.path.join(ROOT, "src", "Fermata.Cli", "Fermata.Cli.csproj"), "-c", "Release",
         "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", dotnet, "-nologo", "-v", "quiet"])
    return {"native": [native], "./fermata (native)": [FERMATA],
            ".NET (ReadyToRun)": ["dotnet", os.path.join(dotnet, "Fermata.Cli.dll")]}


def timed_cpu(args):
    """timed(ARGS), plus the CPU time (user and system, every thread) the command and the
    processes it waited for used: on a busy machine the wall time grows with the wait for a core,
    the CPU time much less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, result = timed(args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, result


def measure_fixed(holder, work, rounds):
    """`--version`, `inspect` of a 1 MiB process's image and `checkpoint` of a 1 MiB process, each
    build in turn within every round; medians over the rounds, and the checkpoints' phases."""
    builds = fixed_builds(work)
    proc, _ = start_holder(holder, work, 1)
    tiny = os.path.join(work, "tiny")
    shutil.rmtree(tiny, ignore_errors=True)
    run(builds["native"] + ["checkpoint", str(proc.pid), "--dir", tiny])
    proc.wait()
    times = {b: {k: [] for k in ("version", "inspect", "checkpoint")} for b in builds}
    cpu = {b: {k: [] for k in ("version", "inspect", "checkpoint")} for b in builds}
    checkpoint_phases = {b: [] for b in builds}
    for _ in range(rounds):
        for name, cmd in builds.items():
            for key, args in (("version", ["--version"]), ("inspect", ["inspect", tiny])):
                elapsed, used, _ = timed_cpu(cmd + args)
                times[name][key].append(elapsed)
                cpu[name][key].append(used)
            proc, _ = start_holder(holder, work, 1)
            image = os.path.join(work, "fixed-image")
            shutil.rmtree(image, ignore_errors=True)
            elapsed, used, out = timed_cpu(cmd + ["checkpoint", str(proc.pid), "--dir", image])
            proc.wait()
            times[name]["checkpoint"].append(elapsed)
            cpu[name]["checkpoint"].append(used)
            checkpoint_phases[name].append(phases(out))
    shutil.rmtree(tiny, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "fixed-image"), ignore_errors=True)
    return dict(rounds=rounds, builds=list(builds),
                med={b: {k: statistics.median(v) for k, v in t.items()} for b, t in times.items()},
                cpu={b: {k: statistics.median(v) for k, v in t.items()} for b, t in cpu.items()},
                load=os.getloadavg()[0],
                phases={b: median_phases(p) for b, p in checkpoint_phases.items()})


def fixed_table(r):
    builds = r["builds"]
    lines = ["| command | " + " | ".join(builds) + " |", "|---|" + "---:|" * len(builds)]
    for key, label in (("version", "`fermata --version`"), ("inspect", "`fermata inspect` of a 1 MiB process's image"),
                       ("checkpoint", "`fermata checkpoint` of a 1 MiB process")):
        lines.append(f"| {label} | " + " | ".join(f"{r['med'][b][key] * 1000:.1f} ms (CPU {r['cpu'][b][key] * 1000:.1f} ms)" for b in builds) + " |")
    lines.append("")
    lines.append(f"Median of {r['rounds']} rounds, the builds alternating; whole-process times, from starting the command to its exit, "
                 f"and the CPU time it used (all its threads and the processes it waited for); load average {r['load']:.1f} at the end.")
    cols = [(b, r["phases"][b]) for b in builds if b != "./fermata (native)"]
    return "\n".join(lines) + "\n\nCheckpoint phases of a 1 MiB process (ms, median; FERMATA_TIMINGS=1):\n\n" + phase_table(cols, "checkpoint phase", least=0.0005, digits=1)


def run_table(r, repeat):
    return "\n".join([
        f"| `fermata run`, {r['mib']} MiB (half compressible, lz4) | USR1 to exit (checkpoint included) | next run until the job runs again | image |",
        "|---|---:|---:|---:|",
        f"| walltime signal, then requeue | {r['stop']:.2f} s | {r['resume']:.2f} s | {r['size'] / (1 << 20):.0f} MiB |",
        "",
        f"Median of {repeat} runs: the time a batch job needs between Slurm's signal and its exit, and between its next start and the program running again.",
    ])


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


def unshared_bytes(path):
    """Bytes of PATH's data extents that FIEMAP does not mark shared (`filefrag -v`): what the
    file costs on disk beyond the blocks it shares with other files."""
    out = run(["filefrag", "-v", path]).stdout
    block = int(re.search(r"blocks of (\d+) bytes", out).group(1))
    total = 0
    for m in re.finditer(r"^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*$", out, re.M):
        if "shared" not in m.group(0):
            total += int(m.group(1)) * block
    return total


def image_parts(image):
    """(manifest and page store, clones, clone blocks not shared) of an image, in bytes."""
    own = clones = unshared = 0
    for name in os.listdir(image):
        path = os.path.join(image, name)
        size = os.path.getsize(path)
        if name.startswith("file-"):
            clones += size
            unshared += unshared_bytes(path)
        else:
            own += size
    return own, clones, unshared


def launcher_checkpoint(log_path, n):
    """What the launcher logged of checkpoint N: its frozen time, and the seconds of the phases
    that capture files (before the freeze: writing back the files to clone; inside it: the
    clones, or declaring the pages to copy, and the copy itself)."""
    with open(log_path) as f:
        text = f.read()
    lines = [m for m in re.finditer(rf"^fermata: checkpoint {n}: .*frozen (\d+) ms", text, re.M)]
    frozen = int(lines[-1].group(1)) / 1000 if lines else float("nan")

    def phase(name):
        found = [float(m.group(1)) / 1000 for m in re.finditer(rf"^fermata: timing: {re.escape(name)}\s+([0-9.]+) ms$", text, re.M)]
        return found[n - 1] if len(found) >= n else float("nan")
    return frozen, phase("write back files to clone"), phase("capture files"), phase("copy pages")


def measure_files(filejob, where, mib, repeat):
    """A job writing a MIB file in WHERE: a full checkpoint, 5% of the file rewritten, an
    incremental one; both --leave-running. Medians of time, frozen, capture phase, image parts
    and used-space growth, per checkpoint."""
    rows = []
    for _ in range(repeat):
        jobdir, data, ready, log = (os.path.join(where, n) for n in ("files-job", "data.bin", "files-ready", "files-job.log"))
        shutil.rmtree(jobdir, ignore_errors=True)
        for f in (data, ready):
            if os.path.exists(f):
                os.unlink(f)
        with open(log, "w") as logf:
            launcher = subprocess.Popen([FERMATA, "launch", "--dir", jobdir, "--", filejob, data, str(mib), ready],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf, env=TIMINGS)
        round_seen = lambda: open(ready).read().strip() if os.path.exists(ready) else ""
        while round_seen() != "0":
            if launcher.poll() is not None:
                sys.exit(f"the files job ended early:\n{open(log).read()}")
            time.sleep(0.05)
        row = []
        for n in (1, 2):
            if n == 2:
                for pid in holders_of(filejob):
                    os.kill(pid, signal.SIGUSR1)
                while round_seen() != "1":
                    time.sleep(0.02)
            elapsed, _ = timed([FERMATA, "checkpoint", jobdir, "--leave-running"])
            frozen, flush, capture, copy = launcher_checkpoint(log, n)
            own, clones, unshared = image_parts(os.path.join(jobdir, str(n)))
            row.append((elapsed, frozen, flush, capture, copy, own, clones, unshared))
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        for pid in holders_of(filejob):
            os.kill(pid, signal.SIGKILL)
        rows.append(row)
        shutil.rmtree(jobdir, ignore_errors=True)
        os.unlink(data)
    return [[statistics.median(r[n][i] for r in rows) for i in range(8)] for n in range(2)]


def holders_of(program):
    """Host PIDs of processes running PROGRAM (by their executable)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/exe") == program:
                    pids.append(int(d))
            except OSError:
                continue
    return pids


class LoopXfs:
    """A loop-mounted XFS with reflinks, made in a sparse file under WORK."""

    def __init__(self, work, mib):
        self.image = os.path.join(work, "xfs.img")
        self.mount = os.path.join(work, "xfs")
        with open(self.image, "wb") as f:
            f.truncate(mib << 20)
        run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", self.image])
        os.makedirs(self.mount, exist_ok=True)
        run(["mount", "-o", "loop", self.image, self.mount])

    def close(self):
        subprocess.run(["umount", self.mount])
        os.unlink(self.image)


def files_table(results, mib, repeat):
    lines = [
        f"| {mib} MiB file, 5% rewritten between checkpoints | checkpoint | frozen | write back (before the freeze) "
        "| clone, or find pages (frozen) | copy pages (frozen) | image | clones | clone blocks not shared |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in results:
        for name, (t, frozen, flush, capture, copy, own, clones, unshared) in zip(("full", "incremental"), runs):
            lines.append(f"| {label}, {name} | {t:.2f} s | {frozen:.2f} s | {flush:.2f} s | {capture:.2f} s | {copy:.2f} s | "
                         f"{own / (1 << 20):.1f} MiB | " + (f"{clones / (1 << 20):.0f} MiB | {unshared / (1 << 20):.1f} MiB |" if clones else "none | |"))
    lines.append("")
    lines.append(f"Median of {repeat} runs; `./fermata checkpoint JOBDIR --leave-running` (whole process); the frozen time and the "
                 "phases as the launcher logs them (FERMATA_TIMINGS=1); the image's manifest and page store; its clones (their "
                 "logical size) and how much of them FIEMAP does not mark shared right after the checkpoint (`filefrag -v`).")
    return "\n".join(lines)


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
    parser.add_argument("--compression", default="1024", help="MiB of the process checkpointed with each --compress mode ('' to skip)")
    parser.add_argument("--tmpfs", default="/dev/shm", help="a tmpfs where the compression section runs a second time ('' to skip)")
    parser.add_argument("--incremental", default="4096", help="MiB of the process checkpointed full, then incrementally ('' to skip)")
    parser.add_argument("--job", default="4x256", help="a job of N processes x MiB each ('' to skip)")
    parser.add_argument("--processes", default="100,400,1000", help="jobs of that many small processes, comma separated ('' to skip)")
    parser.add_argument("--run", default="1024", help="MiB of a process under `fermata run`, stopped by USR1 and run again ('' to skip)")
    parser.add_argument("--connections", default="1000", help="TCP connections between a server and its client in one job ('' to skip)")
    parser.add_argument("--files", default="1024", help="MiB of the file a job rewrites 5%% of between checkpoints ('' to skip)")
    parser.add_argument("--lazy", default="1024,8192", help="MiB of the process restored eagerly and lazily, comma separated ('' to skip)")
    parser.add_argument("--scale", default="", help="MiB sizes of the scale section, e.g. 256,1024,4096,16384 ('' to skip, the default)")
    parser.add_argument("--xfs-size", default="4096", help="MiB of the loop-mounted XFS of the files section ('' to skip XFS)")
    parser.add_argument("--criu", help="a CRIU binary (4.x, built outside this repository): Fermata and CRIU side by side (bench/criu.py)")
    parser.add_argument("--criu-size", default="1024", help="MiB of the processes the CRIU section checkpoints")
    parser.add_argument("--live", default="1024,8192", help="MiB of a program writing its memory, checkpointed live and with --no-live ('' to skip)")
    parser.add_argument("--fixed", default="20", help="rounds of the fixed-cost section: small commands, native and .NET builds side by side ('' to skip)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: restoring processes with their own PIDs needs root")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = args.dir or tempfile.mkdtemp(prefix="fermata-bench-")
    os.makedirs(work, exist_ok=True)
    holder = os.path.join(work, "hold")
    run(["gcc", "-O2", "-o", holder, os.path.join(ROOT, "bench", "hold.c"), "-lm"])
    run([FERMATA, "--version"])  # builds Fermata once, outside the measurements
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}; images in {work}", file=sys.stderr)
    scale = [int(s) for s in args.scale.split(",") if s]
    largest = max(sizes + [int(x) for x in (args.compression, args.incremental) if x] + [1])
    warm_up(holder, work, max(largest * 2, max(scale + [0])))
    sections = []
    if scale:
        print(f"measuring scale: {', '.join(map(str, scale))} MiB ...", file=sys.stderr)
        sections.append(scale_table(measure_scale(holder, work, scale, args.repeat), args.repeat))
    if sizes:
        results = []
        for mib in sizes:
            print(f"measuring {mib} MiB ...", file=sys.stderr)
            results.append(measure(holder, work, mib, args.repeat))
        sections.append(table(results, args.repeat))
    if args.compression:
        mib = int(args.compression)
        print(f"measuring compression on {mib} MiB ...", file=sys.stderr)
        results = measure_compression(holder, work, mib, args.repeat, work)
        sections.append(compression_table(results, mib, args.repeat) + "\n\n" + compression_phases(results))
        if args.tmpfs:
            print(f"measuring compression on {mib} MiB, images on {args.tmpfs} ...", file=sys.stderr)
            images = tempfile.mkdtemp(prefix="fermata-bench-", dir=args.tmpfs)
            try:
                results = measure_compression(holder, work, mib, args.repeat, images)
            finally:
                shutil.rmtree(images, ignore_errors=True)
            sections.append(compression_table(results, mib, args.repeat, tmpfs=True) + "\n\n" + compression_phases(results))
    if args.incremental:
        mib = int(args.incremental)
        print(f"measuring incremental checkpoints of {mib} MiB ...", file=sys.stderr)
        sections.append(incremental_table(measure_incremental(holder, work, mib, args.repeat), args.repeat))
    if args.job:
        count, mib = (int(x) for x in args.job.split("x"))
        print(f"measuring a job of {count} x {mib} MiB ...", file=sys.stderr)
        sections.append(job_table(measure_job(holder, work, count, mib, args.repeat), args.repeat))
    if args.processes:
        swarm = os.path.join(work, "swarm")
        run(["gcc", "-O2", "-o", swarm, os.path.join(ROOT, "tests", "workloads", "swarm.c")])
        results = []
        for count in (int(x) for x in args.processes.split(",") if x):
            print(f"measuring a job of {count} small processes ...", file=sys.stderr)
            results.append(measure_processes(swarm, work, count, args.repeat))
        sections.append(processes_table(results, args.repeat))
    if args.connections:
        conns = os.path.join(work, "conns")
        run(["gcc", "-O2", "-o", conns, os.path.join(ROOT, "bench", "conns.c")])
        count = int(args.connections)
        print(f"measuring a job with {count} connections ...", file=sys.stderr)
        sections.append(connections_table(measure_connections(conns, work, count, args.repeat), args.repeat))
    if args.files:
        mib = int(args.files)
        filejob = os.path.join(work, "filejob")
        run(["gcc", "-O2", "-o", filejob, os.path.join(ROOT, "bench", "filejob.c")])
        fs = run(["findmnt", "-n", "-o", "FSTYPE", "-T", work]).stdout.strip()
        print(f"measuring a job rewriting 5% of a {mib} MiB file on {fs} ...", file=sys.stderr)
        results = [(f"{fs} (pages copied)", measure_files(filejob, work, mib, args.repeat))]
        if args.xfs_size:
            xfs = LoopXfs(work, int(args.xfs_size))
            try:
                print(f"measuring the same on a loop-mounted XFS ...", file=sys.stderr)
                results.append(("XFS (cloned)", measure_files(filejob, xfs.mount, mib, args.repeat)))
            finally:
                xfs.close()
        sections.append(files_table(results, mib, args.repeat))
    if args.fixed:
        print(f"measuring the fixed cost of a command, native and .NET builds ...", file=sys.stderr)
        sections.append(fixed_table(measure_fixed(holder, work, int(args.fixed))))
    if args.live:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import live
        sizes_live = [int(x) for x in args.live.split(",") if x]
        print(f"measuring live checkpoints of {args.live} MiB ...", file=sys.stderr)
        sections.append(live.live_table(live.measure_live(work, sizes_live, args.repeat), args.repeat))
    if args.criu:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        import criu
        print(f"measuring Fermata beside {args.criu} ...", file=sys.stderr)
        sections.append(criu.criu_table(criu.measure_criu(args.criu, holder, work, int(args.criu_size), args.repeat, args.tmpfs), args.repeat))
    if args.lazy:
        wakeup = os.path.join(work, "wakeup")
        run(["gcc", "-O2", "-o", wakeup, os.path.join(ROOT, "bench", "wakeup.c")])
        results = []
        for mib in (int(x) for x in args.lazy.split(",") if x):
            print(f"measuring time to running of eager and lazy restores of {mib} MiB ...", file=sys.stderr)
            results.append(measure_lazy(wakeup, work, mib, args.repeat))
        sections.append(lazy_table(results, args.repeat))
    if args.run:
        mib = int(args.run)
        print(f"measuring fermata run of {mib} MiB (signal to exit) ...", file=sys.stderr)
        sections.append(run_table(measure_run(holder, work, mib, args.repeat), args.repeat))
    text = "\n\n".join(sections)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
