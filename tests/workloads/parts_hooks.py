"""parts_hooks.py DIR STEPS PAUSE

One part of a job over several nodes (fermata run --per-node) whose program uses Fermata's hooks
(clients/python/fermata.py) through its part's launcher. Each step appends "step I" to a buffer
in memory, written to DIR/hooks-partN.txt every tenth step and by the before_checkpoint hook,
which first adds "before checkpoint C"; after_checkpoint adds "after checkpoint C" and
after_restart "restarted from checkpoint C". The last line is "done". A restart that lost or
repeated a step, or a hook that never ran, shows in the file.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import fermata  # noqa: E402

directory, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
part = int(os.environ["FERMATA_PART"])
out = open(os.path.join(directory, f"hooks-part{part}.txt"), "a")
buffer = []
lock = threading.Lock()


def flush():
    out.write("".join(line + "\n" for line in buffer))
    out.flush()
    del buffer[:]


def before_checkpoint(event):
    with lock:
        buffer.append("before checkpoint %d" % event.checkpoint)
        flush()


def after_checkpoint(event):
    with lock:
        buffer.append("after checkpoint %d" % event.checkpoint)


def after_restart(event):
    with lock:
        buffer.append("restarted from checkpoint %d" % event.checkpoint)


if fermata.register(before_checkpoint=before_checkpoint, after_checkpoint=after_checkpoint, after_restart=after_restart) is None:
    sys.exit("parts_hooks.py: not run by a Fermata launcher")
for i in range(1, steps + 1):
    with lock:
        buffer.append("step %d" % i)
        if i % 10 == 0:
            flush()
    time.sleep(pause)
with lock:
    buffer.append("done")
    flush()
