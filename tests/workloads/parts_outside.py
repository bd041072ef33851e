"""Every part of a job over several nodes holds a TCP connection to a server outside the job (a
licence server, a database), as an ordinary user's job would, with no TCP repair to keep it.

Each step, the part offers the server a block without waiting (the server reads nothing, so the
buffers fill and bytes are held back in the sender) and prints "STEP" to DIR/out-partN.txt. Once a
send finds the buffers full it writes DIR/full-partN. When it finds the connection closed (a
restart with --external close brings it back as one whose peer went away) it notes the step in
DIR/closed-partN.txt and connects again. Usage: parts_outside.py DIR HOST PORT STEPS PAUSE_SECONDS
"""
import os
import select
import socket
import sys
import time

directory, host, port, steps, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
part = int(os.environ["FERMATA_PART"])
out = open(os.path.join(directory, f"out-part{part}.txt"), "a", buffering=1)
block = b"x" * 65536


def closed(s):
    readable, _, _ = select.select([s], [], [], 0)
    if not readable:
        return False
    try:
        return s.recv(1) == b""
    except ConnectionError:
        return True


server = socket.create_connection((host, port))
full = False
for step in range(1, steps + 1):
    if closed(server):
        with open(os.path.join(directory, f"closed-part{part}.txt"), "a") as f:
            f.write(f"closed at step {step}\n")
        server.close()
        server = socket.create_connection((host, port))
    try:
        server.send(block, socket.MSG_DONTWAIT)
    except BlockingIOError:
        if not full:
            open(os.path.join(directory, f"full-part{part}"), "w").close()
            full = True
    except ConnectionError:
        pass  # closed: found at the next step's look
    print(step, file=out)
    time.sleep(pause)
server.close()
