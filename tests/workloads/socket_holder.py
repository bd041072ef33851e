"""socket_holder.py OUTFILE: holds a raw ICMP socket (which Fermata refuses: a restore could not
give it back the packets it would have seen; needs root) and ticks, so a test can check the
refusal names the descriptor and leaves the process running."""
import socket
import sys
import time

raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
out = open(sys.argv[1], "a", buffering=1)
tick = 0
while True:
    tick += 1
    out.write(f"tick {tick}\n")
    time.sleep(0.01)
