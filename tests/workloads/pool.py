"""pool.py PROGRESS CHUNKS CHUNK_SIZE GATE_AT GATEFILE: a multiprocessing.Pool(4) computation.

The parent (with the pool's three helper threads) hands CHUNKS chunks of range(CHUNKS *
CHUNK_SIZE) to 4 forked workers through the pool's pipes and locks; each worker sums
(i * i) % 1000003 over its chunk. The parent appends "chunk K" to PROGRESS as the results come
back in order, then "result TOTAL", and prints "result TOTAL" on standard output (and a first
line on standard output and one on standard error, to show where they go). The worker that gets
chunk GATE_AT waits until GATEFILE exists first, so a checkpoint lands mid-run.
"""
import multiprocessing
import os
import sys
import time


def part(task):
    k, lo, hi, gate_at, gate = task
    if k == gate_at:
        while not os.path.exists(gate):
            time.sleep(0.01)
    return sum((i * i) % 1000003 for i in range(lo, hi))


def main():
    progress, chunks, size, gate_at, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    tasks = [(k, k * size, (k + 1) * size, gate_at, gate) for k in range(chunks)]
    print(f"pool: 4 workers, {chunks} chunks", flush=True)
    print("pool: computing", file=sys.stderr, flush=True)
    total = 0
    # fork explicitly: the default start method of newer Pythons (forkserver) talks over a socket.
    with open(progress, "a") as log, multiprocessing.get_context("fork").Pool(4) as pool:
        for k, partial in enumerate(pool.imap(part, tasks)):
            total += partial
            log.write(f"chunk {k}\n")
            log.flush()
        log.write(f"result {total}\n")
        pool.close()
        pool.join()
    print(f"result {total}", flush=True)


if __name__ == "__main__":
    main()
