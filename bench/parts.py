"""A job over three nodes (fermata run --per-node) under the test Slurm cluster (tests/slurm/cluster,
run as root): how long its checkpoints and its restart take against the total memory of its
processes, next to a plain copy of the same bytes to the same disk.

    python3 bench/parts.py [--sizes 256,1024] [--repeat 3]

Per size MIB, each of the three nodes' parts is bench/hold.c holding MIB MiB of random bytes.
Measured, as the user sees them (whole commands, wall clock):
  checkpoint  `fermata checkpoint DIR --leave-running` of the whole job (a full one each time:
              every round is a fresh job), from the command's start to its end;
  copy        `cp` of a file of 3 x MIB MiB of random bytes into the same directory, then sync:
              what the disk and page cache allow for those bytes;
  to requeue  from `scancel --signal=USR1 --batch` (the walltime signal) until Slurm shows the job
              requeued: the stopping checkpoint of every part, and the requeue;
  restart     from the job running again until every part logged its restore.
Runs alternate checkpoint and copy in every round; medians are printed.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERMATA = os.path.join(ROOT, "fermata")
CLUSTER = os.path.join(ROOT, "tests", "slurm", "cluster")


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def wait(what, condition, limit=300):
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def job_state(env, job):
    out = sh(["scontrol", "show", "job", "-o", job], env=env).stdout
    m = re.search(r"JobState=(\S+)", out)
    return m.group(1) if m else ""


def submit(env, work, holder, mib, name):
    """A fresh job over three nodes whose parts each hold MIB MiB; returns (job id, its directory)
    once every part holds its memory."""
    d = os.path.join(work, name)
    os.makedirs(d)
    script = os.path.join(d, "job.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec {FERMATA} run --dir {d}/ckpt --per-node -- /bin/sh -c 'exec {holder} {d}/ready-$SLURMD_NODENAME {mib} random'\n")
    os.chmod(script, 0o755)
    job = sh(["sbatch", "--parsable", "--requeue", "-N", "3", "--ntasks-per-node=1",
              f"--output={d}/out.txt", f"--error={d}/err.txt", "--open-mode=append", script], env=env).stdout.strip()
    ready = [os.path.join(d, f"ready-n{i}") for i in (1, 2, 3)]
    wait("every part to hold its memory", lambda: all(os.path.exists(r) for r in ready))
    return job, d


def finish(env, job, d):
    sh(["scancel", job], env=env)
    wait("the job to end", lambda: job_state(env, job) not in ("RUNNING", "COMPLETING", "PENDING"), 120)
    shutil.rmtree(d, ignore_errors=True)


def one_round(env, work, holder, mib, index):
    # A checkpoint that leaves the job running: full, of a fresh job.
    job, d = submit(env, work, holder, mib, f"live-{mib}-{index}")
    start = time.perf_counter()
    r = sh([FERMATA, "checkpoint", f"{d}/ckpt", "--leave-running"], env=env)
    checkpoint = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"checkpoint failed: {r.stdout}{r.stderr}")

    # The same bytes copied to the same disk, from a cold cache.
    blob = os.path.join(d, "blob")
    with open(blob, "wb") as f:
        for _ in range(3 * mib):
            f.write(os.urandom(1 << 20))
    sh(["sync"])
    sh(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"])
    start = time.perf_counter()
    sh(["sh", "-c", f"cp {blob} {d}/ckpt/blob-copy && sync {d}/ckpt/blob-copy"])
    copy = time.perf_counter() - start
    finish(env, job, d)

    # The walltime signal to a fresh job: a full stopping checkpoint, the requeue, the restart.
    job, d = submit(env, work, holder, mib, f"stop-{mib}-{index}")
    start = time.perf_counter()
    sh(["scancel", "--signal=USR1", "--batch", job], env=env)
    wait("the requeue", lambda: job_state(env, job) in ("PENDING", "REQUEUED", "REQUEUE_HOLD"))
    to_requeue = time.perf_counter() - start
    wait("the job to run again", lambda: job_state(env, job) == "RUNNING")
    running = time.perf_counter()
    wait("every part's restore", lambda: open(f"{d}/err.txt").read().count("generation 2: restarted") >= 3)
    restart = time.perf_counter() - running
    finish(env, job, d)
    return checkpoint, copy, to_requeue, restart


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="256,1024", help="MiB per node, comma-separated")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the test cluster starts daemons and network namespaces")
    work = tempfile.mkdtemp(prefix="fermata-parts-bench-", dir="/var/tmp")
    os.chmod(work, 0o755)
    holder = os.path.join(work, "hold")
    subprocess.run(["gcc", "-O2", "-o", holder, os.path.join(ROOT, "bench", "hold.c"), "-lm"], check=True)
    cluster = os.path.join(work, "cluster")
    env = dict(os.environ, SLURM_TEST_NODES="3")
    out = sh([CLUSTER, "start", cluster], env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    env["SLURM_CONF"] = os.path.join(cluster, "slurm.conf")
    try:
        print(f"{'MiB/node':>8} {'total':>7} {'checkpoint':>10} {'copy':>7} {'to requeue':>10} {'restart':>8}")
        for mib in [int(x) for x in a.sizes.split(",") if x]:
            rounds = [one_round(env, work, holder, mib, i) for i in range(a.repeat)]
            med = [statistics.median(r[k] for r in rounds) for k in range(4)]
            print(f"{mib:>8} {3 * mib:>6}M {med[0]:>9.2f}s {med[1]:>6.2f}s {med[2]:>9.2f}s {med[3]:>7.2f}s", flush=True)
    finally:
        sh([CLUSTER, "stop", cluster], env=env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
