"""Two builds of fermata side by side, alternating in every round: how long a live checkpoint
freezes a program that rewrites its memory, and what a checkpoint of a small process costs.
These VMs' speed swings 3x from minute to minute, so a change is judged by its build against the
one before it in the same minutes, never against a table measured another day.

    python3 bench/builds.py OLD NEW [--live 1024] [--rounds 6] [--fixed 20] [--processes 300]

OLD and NEW are fermata binaries (the native binary `./fermata` builds is .build/native/fermata;
copy it aside before building the other commit). As root.
  --live MIB   tests/workloads/sweeper.c holding MIB MiB and rewriting it at 512 MiB/s; each
               build checkpoints it with --leave-running in turn, ROUNDS times; prints the
               frozen time Fermata reports (median, and every value).
  --fixed N    bench/hold.c holding 1 MiB, started afresh for every checkpoint (process killed),
               N rounds; prints the median wall time and CPU time (the command's, its threads').
  --processes N  a job of N small processes and their parent (tests/workloads/swarm.c),
               launched afresh by each build, checkpointed (stopped) and restarted, ROUNDS
               times; prints the frozen time the launcher logs and the restart's wall time
               until it reports the job restarted (medians, and every value).
Images go to /dev/shm, so the disk's swings stay out of it. '' skips a section.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench import launch_swarm, start_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(args):
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)


def compile_c(source, output):
    subprocess.run(["gcc", "-O2", "-o", output, source, "-lm"], check=True)


def wait_for(predicate, limit=600):
    deadline = time.time() + limit
    while not predicate():
        if time.time() > deadline:
            sys.exit("the program did not get ready in time")
        time.sleep(0.05)


def order(builds, i):
    names = list(builds)
    return names if i % 2 == 0 else names[::-1]


def live(builds, work, mib, rounds):
    sweeper = os.path.join(work, "sweeper")
    compile_c(os.path.join(ROOT, "tests", "workloads", "sweeper.c"), sweeper)
    out = os.path.join(work, "sweeps")
    proc = spawn([sweeper, out, str(mib), "0", "512"])
    try:
        wait_for(lambda: os.path.exists(out) and open(out).read().count("sweep") >= 2)
        frozen = {b: [] for b in builds}
        for i in range(rounds):
            for b in order(builds, i):
                image = "/dev/shm/fermata-builds-live"
                shutil.rmtree(image, ignore_errors=True)
                r = subprocess.run([builds[b], "checkpoint", str(proc.pid), "--dir", image, "--leave-running"],
                                   capture_output=True, text=True, close_fds=True)
                if r.returncode != 0:
                    sys.exit(f"{b}: checkpoint failed: {r.stderr.strip()}")
                frozen[b].append(float(re.search(r"frozen ([0-9.]+) s", r.stdout).group(1)) * 1000)
                shutil.rmtree(image, ignore_errors=True)
                time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    print(f"\nLive checkpoint of a {mib} MiB sweeper, frozen (ms), {rounds} rounds alternating:")
    for b, v in frozen.items():
        print(f"  {b}: median {statistics.median(v):.0f}  ({', '.join(f'{x:.0f}' for x in sorted(v))})")


def fixed(builds, work, rounds):
    holder = os.path.join(work, "hold")
    compile_c(os.path.join(ROOT, "bench", "hold.c"), holder)
    ready = os.path.join(work, "ready")
    wall = {b: [] for b in builds}
    cpu = {b: [] for b in builds}
    for i in range(rounds):
        for b in order(builds, i):
            if os.path.exists(ready):
                os.unlink(ready)
            proc = spawn([holder, ready, "1"])
            wait_for(lambda: os.path.exists(ready) and open(ready).read())
            image = "/dev/shm/fermata-builds-fixed"
            shutil.rmtree(image, ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            r = subprocess.run([builds[b], "checkpoint", str(proc.pid), "--dir", image],
                               capture_output=True, text=True, close_fds=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc.wait()
            if r.returncode != 0:
                sys.exit(f"{b}: checkpoint failed: {r.stderr.strip()}")
            wall[b].append(elapsed * 1000)
            cpu[b].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
            shutil.rmtree(image, ignore_errors=True)
    print(f"\nCheckpoint of a 1 MiB process (killed), {rounds} rounds alternating:")
    for b in builds:
        print(f"  {b}: wall {statistics.median(wall[b]):.1f} ms, CPU {statistics.median(cpu[b]):.1f} ms (medians)")


def processes(builds, work, count, rounds):
    swarm = os.path.join(work, "swarm")
    compile_c(os.path.join(ROOT, "tests", "workloads", "swarm.c"), swarm)
    frozen = {b: [] for b in builds}
    restarted = {b: [] for b in builds}
    for i in range(rounds):
        for b in order(builds, i):
            launcher, jobdir, _, launch_log = launch_swarm(builds[b], swarm, work, count)
            time.sleep(0.5)
            r = subprocess.run([builds[b], "checkpoint", jobdir], capture_output=True, text=True, close_fds=True)
            if r.returncode != 0:
                sys.exit(f"{b}: checkpoint failed: {r.stderr.strip()}")
            launcher.wait()
            found = re.search(r"frozen ([0-9]+) ms", open(launch_log).read())
            if not found:
                sys.exit(f"{b}: the launcher logged no frozen time")
            frozen[b].append(float(found.group(1)))
            # The job stopped after its checkpoint; its processes are gone before the restart.
            wait_for(lambda: subprocess.run(["pgrep", "-f", swarm], capture_output=True).returncode != 0, 60)
            restart, seconds = start_until([builds[b], "restart", jobdir], "restarted job")
            if restart.poll() is not None:
                sys.exit(f"{b}: restart failed (exit {restart.returncode})")
            restarted[b].append(seconds * 1000)
            # The restart is the job's launcher: killed, it takes the job with it.
            restart.kill()
            restart.wait()
            wait_for(lambda: subprocess.run(["pgrep", "-f", swarm], capture_output=True).returncode != 0, 60)
            shutil.rmtree(jobdir, ignore_errors=True)
    print(f"\nCheckpoint (stop) and restart of a job of {count} processes and their parent, {rounds} rounds alternating:")
    for what, values in (("frozen (ms)", frozen), ("restart, wall (ms)", restarted)):
        print(f"  {what}:")
        for b, v in values.items():
            print(f"    {b}: median {statistics.median(v):.0f}  ({', '.join(f'{x:.0f}' for x in sorted(v))})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--live", default="1024", help="MiB of the sweeper ('' to skip)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of the live section")
    parser.add_argument("--fixed", default="20", help="rounds of the small checkpoint ('' to skip)")
    parser.add_argument("--processes", default="", help="processes of the job section ('' to skip, the default)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    builds = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    work = tempfile.mkdtemp(prefix="fermata-builds-")
    try:
        if args.live:
            live(builds, work, int(args.live), args.rounds)
        if args.fixed:
            fixed(builds, work, int(args.fixed))
        if args.processes:
            processes(builds, work, int(args.processes), args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
