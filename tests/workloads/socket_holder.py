"""socket_holder.py OUTFILE: holds a listening TCP socket (which Fermata cannot checkpoint yet)
and ticks, so a test can check the refusal names the descriptor and leaves the process running."""
import socket
import sys
import time

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen()
out = open(sys.argv[1], "a", buffering=1)
tick = 0
while True:
    tick += 1
    out.write(f"tick {tick}\n")
    time.sleep(0.01)
