"""redis_client.py SOCKET PORT ROUNDS INTERVAL_MS

A client of a real redis-server, speaking its protocol over two connections at once: the Unix
socket SOCKET and TCP port PORT on 127.0.0.1. Each round it increments a counter over one and
appends to a list over the other, and prints "round N: counter C length L" from the server's
answers, so a restored job's output shows at once whether the server kept its state and both
connections lost or repeated nothing.
"""
import socket
import sys
import time


def command(sock, *words):
    parts = [f"*{len(words)}\r\n".encode()]
    for w in words:
        w = str(w).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(w), w))
    sock.sendall(b"".join(parts))
    return reply(sock.makefile("rb", buffering=0))


def reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind in (b"+", b"-"):
        return rest
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    raise ValueError(f"unexpected reply {line!r}")


def main():
    path, port, rounds, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(path)
    tcp = socket.create_connection(("127.0.0.1", port))
    for n in range(1, rounds + 1):
        counter = command(unix, "INCR", "counter")
        length = command(tcp, "RPUSH", "rounds", n)
        print(f"round {n}: counter {counter} length {length}", flush=True)
        time.sleep(interval / 1000)
    print(f"last pushed {command(unix, 'LINDEX', 'rounds', -1)}", flush=True)


if __name__ == "__main__":
    main()
