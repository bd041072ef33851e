"""app_checkpoint.py OUTPUT STEPS INTERVAL_MS EVERY [STOP_AT]

A Python program that asks for its own checkpoints (clients/python/fermata.py), the twin of
tests/workloads/dotnet-client. Each step appends "step I" to OUTPUT (kept open, flushed each
line); after every EVERY-th step it asks for a checkpoint and writes "checkpoint C" in the life
that goes on, or, in the life restored from it, "restarted from checkpoint C generation G
restored_from R" with what info() says then. After step STOP_AT it asks for a checkpoint that
stops the job instead, which returns only in the restored program. The first line says what
info() says at the start ("fermata not enabled" without a launcher); the last is "done".
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import fermata  # noqa: E402


def main():
    output, steps, interval_ms, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    stop_at = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    with open(output, "a") as log:
        def write(line):
            log.write(line + "\n")
            log.flush()

        start = fermata.info()
        write("fermata not enabled" if start is None
              else "fermata enabled, generation %d restored_from %d" % (start.generation, start.restored_from))
        for i in range(1, steps + 1):
            write("step %d" % i)
            if i % every == 0:
                outcome = fermata.checkpoint(stop=(i == stop_at))
                if outcome is not None and outcome.resumed == "checkpointed":
                    write("checkpoint %d" % outcome.checkpoint)
                elif outcome is not None:
                    now = fermata.info()
                    write("restarted from checkpoint %d generation %d restored_from %d" % (outcome.checkpoint, now.generation, now.restored_from))
            time.sleep(interval_ms / 1000.0)
        write("done")


if __name__ == "__main__":
    main()
