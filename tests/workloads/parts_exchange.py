"""Two parts of a job over several nodes talking over TCP, as ranks on two hosts do.

Part 0 listens and writes its address to DIR/address; part 1 connects to it. For each step the
client sends a block (two steps ahead, so that bytes are always on their way) and the server
answers with a block of its own; each checks that what it got is what was sent and prints
"STEP ok" to DIR/out-partN.txt. A restart that lost, repeated or reordered a byte in either
direction prints otherwise. Part 1's socket is an IPv6 one, part 0's an IPv4 one. Usage: parts_exchange.py DIR STEPS BLOCK_BYTES PAUSE_SECONDS
"""
import hashlib
import os
import socket
import sys
import time

directory, steps, size, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
part = int(os.environ["FERMATA_PART"])
out = open(os.path.join(directory, f"out-part{part}.txt"), "a", buffering=1)


def block(kind, step):
    seed = hashlib.sha256(f"{kind} {step}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def read_exactly(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise SystemExit(f"part {part}: the connection closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def this_host():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks the outgoing address
    address = probe.getsockname()[0]
    probe.close()
    return address


if part == 0:
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(1)
    temporary = os.path.join(directory, "address.tmp")
    with open(temporary, "w") as f:
        f.write(f"{this_host()} {listener.getsockname()[1]}\n")
    os.rename(temporary, os.path.join(directory, "address"))
    peer, _ = listener.accept()
    listener.close()
    for step in range(1, steps + 1):
        got = read_exactly(peer, size)
        print(f"{step} {'ok' if got == block('ask', step) else 'WRONG'}", file=out)
        peer.sendall(block("answer", step))
else:
    where = os.path.join(directory, "address")
    while not os.path.exists(where):
        time.sleep(0.1)
    host, port = open(where).read().split()
    # An IPv6 socket holding an IPv4 peer, as a JVM's are: the two ends of the connection are
    # of different families, and a restart must still join them.
    peer = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    peer.connect((f"::ffff:{host}", int(port)))
    ahead = 2
    for step in range(1, min(ahead, steps) + 1):
        peer.sendall(block("ask", step))
    for step in range(1, steps + 1):
        got = read_exactly(peer, size)
        print(f"{step} {'ok' if got == block('answer', step) else 'WRONG'}", file=out)
        if step + ahead <= steps:
            peer.sendall(block("ask", step + ahead))
        time.sleep(pause)
peer.close()
