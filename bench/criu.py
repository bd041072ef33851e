"""Fermata beside CRIU (bench.py --criu PATH): the same processes checkpointed and restored by
each tool in turn, alternating in every round, because these machines' memory and disk speeds
change from minute to minute.

CRIU is not part of the project: build it yourself from its public source, outside this
repository, and give its binary (`criu`, version 4.x). Each run:
  - stopped checkpoint of a process holding MIB MiB of random data (bench/hold.c): Fermata's
    `checkpoint PID --dir D` (its image fsynced before the process is killed) against
    `criu dump -t PID -D D` followed by an fsync of every image file (CRIU does not sync its
    images itself), whole-process times;
  - restore until the process runs again: `fermata restore D --detach` against
    `criu restore -D D -d`; the restored process then checks its data;
  - a program that keeps writing its memory (tests/workloads/sweeper.c, one for each tool) checkpointed with the
    process left running: Fermata's live checkpoint against `criu dump --leave-running`, and how
    long the program itself saw itself stopped.
Images go to the work directory (on disk) and then, for the stopped checkpoint and the restore,
to a tmpfs, where no disk stands between the tools and only their CPU work shows.
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERMATA = os.path.join(ROOT, "fermata")


def _run(args, **kw):
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed, result


def _fsync_tree(path):
    for name in os.listdir(path):
        fd = os.open(os.path.join(path, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _wait_file(path, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                word = f.read().strip()
            if word:
                return word
        time.sleep(0.02)
    return "no answer"


def _wait_gone(pid, limit=30):
    deadline = time.time() + limit
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.02)


def _holder(holder, work, mib):
    ready = os.path.join(work, f"criu-ready-{mib}")
    for f in (ready, ready + ".restored"):
        if os.path.exists(f):
            os.unlink(f)
    proc = subprocess.Popen([holder, ready, str(mib), "random"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    if _wait_file(ready) == "no answer":
        raise SystemExit("the holder did not start")
    return proc, ready


def _check_restored(pid, ready):
    if os.path.exists(ready + ".restored"):
        os.unlink(ready + ".restored")
    os.kill(pid, signal.SIGUSR1)
    verdict = _wait_file(ready + ".restored")
    if verdict != "ok":
        raise SystemExit(f"a holder restored as {pid} reports its data {verdict}")
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)


def _stopped_round(tool, criu, holder, work, images, mib):
    proc, ready = _holder(holder, work, mib)
    pid = proc.pid
    image = os.path.join(images, f"{tool}-{mib}")
    shutil.rmtree(image, ignore_errors=True)
    if tool == "fermata":
        checkpoint, _ = _run([FERMATA, "checkpoint", str(pid), "--dir", image])
    else:
        os.makedirs(image)
        start = time.perf_counter()
        _run([criu, "dump", "-t", str(pid), "-D", image, "-o", "dump.log"])
        _fsync_tree(image)
        checkpoint = time.perf_counter() - start
    proc.wait()
    _wait_gone(pid)
    if tool == "fermata":
        restore, out = _run([FERMATA, "restore", image, "--detach"])
        restored = int(out.stdout.strip().splitlines()[-1])
    else:
        restore, _ = _run([criu, "restore", "-D", image, "-d", "-o", "restore.log"])
        restored = pid
    _check_restored(restored, ready)
    shutil.rmtree(image, ignore_errors=True)
    return checkpoint, restore


def _sweeps(path):
    found = []
    with open(path) as f:
        for line in f:
            m = re.match(r"sweep (\d+) gap (\d+)$", line.strip())
            if m:
                found.append(int(m.group(2)) / 1e6)
            elif line.startswith("CORRUPT"):
                raise SystemExit(f"the sweeper found its memory corrupted: {line.strip()}")
    return found


def _wait_sweeps(path, count, limit=300):
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path) and len(_sweeps(path)) >= count:
            return
        time.sleep(0.05)
    raise SystemExit(f"{path}: the sweeper did not reach sweep {count}")


def _running_round(tool, criu, pid, out, work, index):
    image = os.path.join(work, f"running-{tool}-{index}")
    shutil.rmtree(image, ignore_errors=True)
    before = len(_sweeps(out))
    if tool == "fermata":
        elapsed, _ = _run([FERMATA, "checkpoint", str(pid), "--dir", image, "--leave-running"])
    else:
        os.makedirs(image)
        start = time.perf_counter()
        _run([criu, "dump", "-t", str(pid), "-D", image, "-o", "dump.log", "--leave-running"])
        _fsync_tree(image)
        elapsed = time.perf_counter() - start
    after = len(_sweeps(out))
    _wait_sweeps(out, after + 1)
    stall = max(_sweeps(out)[before:after + 1])
    shutil.rmtree(image, ignore_errors=True)
    return elapsed, stall


def measure_criu(criu, holder, work, mib, repeat, tmpfs):
    version = subprocess.run([criu, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[0]
    places = [("disk", work)] + ([("tmpfs", tmpfs)] if tmpfs else [])
    stopped = {}
    for where, root in places:
        images = os.path.join(root, "fermata-bench-criu") if where == "tmpfs" else work
        os.makedirs(images, exist_ok=True)
        runs = {"fermata": [], "criu": []}
        try:
            for i in range(repeat):
                for tool in ("fermata", "criu") if i % 2 == 0 else ("criu", "fermata"):
                    runs[tool].append(_stopped_round(tool, criu, holder, work, images, mib))
        finally:
            if where == "tmpfs":
                shutil.rmtree(images, ignore_errors=True)
        stopped[where] = {t: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for t, v in runs.items()}

    sweeper = os.path.join(work, "sweeper")
    subprocess.run(["gcc", "-O2", "-o", sweeper, os.path.join(ROOT, "tests", "workloads", "sweeper.c")], check=True)
    # One program per tool: a live checkpoint leaves Fermata's write tracker (a userfaultfd) in
    # the program for the next incremental checkpoint, which CRIU cannot dump.
    procs, outs = {}, {}
    running = {"fermata": [], "criu": []}
    try:
        for tool in running:
            outs[tool] = os.path.join(work, f"criu-sweeps-{tool}.log")
            if os.path.exists(outs[tool]):
                os.unlink(outs[tool])
            procs[tool] = subprocess.Popen([sweeper, outs[tool], str(mib)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        for tool in running:
            _wait_sweeps(outs[tool], 3)
        for i in range(repeat):
            for tool in ("fermata", "criu") if i % 2 == 0 else ("criu", "fermata"):
                running[tool].append(_running_round(tool, criu, procs[tool].pid, outs[tool], work, f"{i}"))
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    running = {t: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for t, v in running.items()}
    return dict(version=version, mib=mib, stopped=stopped, running=running)


def criu_table(r, repeat):
    mib = r["mib"]
    lines = [
        f"| {mib} MiB | Fermata | {r['version']} |",
        "|---|---:|---:|",
    ]
    for where, tools in r["stopped"].items():
        lines.append(f"| checkpoint (stop), images on {where}, synced | {tools['fermata'][0]:.2f} s | {tools['criu'][0]:.2f} s |")
        lines.append(f"| restore until it runs, images on {where} | {tools['fermata'][1]:.2f} s | {tools['criu'][1]:.2f} s |")
    run = r["running"]
    lines.append(f"| checkpoint leaving a program that rewrites its memory running | {run['fermata'][0]:.2f} s | {run['criu'][0]:.2f} s |")
    lines.append(f"| the longest that program was stopped, as it saw it | {run['fermata'][1] * 1000:.0f} ms | {run['criu'][1] * 1000:.0f} ms |")
    lines.append("")
    lines.append(f"Median of {repeat} runs of each, the two tools alternating; random data (bench/hold.c), "
                 "then tests/workloads/sweeper.c; CRIU's images fsynced after `criu dump`.")
    return "\n".join(lines)
