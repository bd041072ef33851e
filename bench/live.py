"""Live checkpoints (bench.py --live): how long a program that keeps writing its memory is
stopped by `fermata checkpoint --leave-running`, live (the default: the memory copied from a
snapshot while the program runs on) and with --no-live (frozen for the whole copy), the two
alternating in every round.

The program is tests/workloads/sweeper.c: it sweeps its memory, rewriting every page, and
reports after each sweep the longest it went without making progress ("gap"): that is how long
it was stopped, as the program itself saw it. Sizes up to 2 GiB sweep as fast as they can (the
worst case for a live copy: every page is written, and copied once more by the kernel, during
the copy); larger ones write 512 MiB/s, so that the kernel's copies do not double the memory
the machine must hold.
"""
import os
import re
import shutil
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERMATA = os.path.join(ROOT, "fermata")
FULL_SPEED_UP_TO = 2048


def _sweeps(path):
    """[(sweep, gap in seconds)] written so far."""
    found = []
    with open(path) as f:
        for line in f:
            m = re.match(r"sweep (\d+) gap (\d+)$", line.strip())
            if m:
                found.append((int(m.group(1)), int(m.group(2)) / 1e6))
            elif line.startswith("CORRUPT"):
                raise SystemExit(f"the sweeper found its memory corrupted: {line.strip()}")
    return found


def _wait_sweeps(path, count, limit=600):
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path) and len(_sweeps(path)) >= count:
            return
        time.sleep(0.05)
    raise SystemExit(f"{path}: the sweeper did not reach sweep {count}")


def _one(work, pid, out, live, index):
    image = os.path.join(work, f"live-{index}")
    before = len(_sweeps(out))
    args = [FERMATA, "checkpoint", str(pid), "--dir", image, "--leave-running"] + ([] if live else ["--no-live"])
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, FERMATA_TIMINGS="1"))
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    frozen = float(re.search(r"frozen ([0-9.]+) s", result.stdout).group(1))
    # Every sweep that ran while the command did, and the one after: the program's longest stop.
    after = len(_sweeps(out))
    _wait_sweeps(out, after + 1)
    stall = max(gap for _, gap in _sweeps(out)[before:after + 1])
    shutil.rmtree(image, ignore_errors=True)
    return elapsed, frozen, stall


def measure_live(work, sizes, repeat):
    sweeper = os.path.join(work, "sweeper")
    subprocess.run(["gcc", "-O2", "-o", sweeper, os.path.join(ROOT, "tests", "workloads", "sweeper.c")], check=True)
    rows = []
    for mib in sizes:
        out = os.path.join(work, f"sweeps-{mib}.log")
        if os.path.exists(out):
            os.unlink(out)
        rate = "0" if mib <= FULL_SPEED_UP_TO else "512"
        proc = subprocess.Popen([sweeper, out, str(mib), "0", rate], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        try:
            _wait_sweeps(out, 3)
            quiet = statistics.median(gap for _, gap in _sweeps(out)[1:])
            runs = {True: [], False: []}
            for i in range(repeat):
                for live in (True, False) if i % 2 == 0 else (False, True):
                    runs[live].append(_one(work, proc.pid, out, live, f"{mib}-{i}-{live}"))
            for live in (True, False):
                rows.append((mib, "live" if live else "--no-live", rate,
                             statistics.median(r[0] for r in runs[live]),
                             statistics.median(r[1] for r in runs[live]),
                             statistics.median(r[2] for r in runs[live]), quiet))
        finally:
            proc.kill()
            proc.wait()
    return rows


def live_table(rows, repeat):
    lines = [
        "| data | mode | writes | checkpoint | frozen (Fermata) | longest stop (the program) | longest stop without a checkpoint |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for mib, mode, rate, elapsed, frozen, stall, quiet in rows:
        writes = "as fast as it can" if rate == "0" else f"{rate} MiB/s"
        lines.append(f"| {mib} MiB | {mode} | {writes} | {elapsed:.2f} s | {frozen * 1000:.0f} ms | {stall * 1000:.0f} ms | {quiet * 1000:.0f} ms |")
    lines.append("")
    lines.append(f"Median of {repeat} runs of `fermata checkpoint PID --leave-running` [--no-live], the two alternating; "
                 "the program's longest stop is the largest gap it reported in the sweeps that ran while the command did.")
    return "\n".join(lines)
