# The demo's sample program when no C compiler is at hand: ticker.py LOGFILE TICKS INTERVAL_MS
import hashlib, sys, time
log = open(sys.argv[1], "a", buffering=1)
ticks, interval = int(sys.argv[2]), int(sys.argv[3]) / 1000
data = bytearray(hashlib.sha256(str(i).encode()).digest()[i % 32] for i in range(1 << 20)) * 64
expected = hashlib.sha256(data).hexdigest()
for i in range(1, ticks + 1):
    time.sleep(interval)
    log.write(f"tick {i}\n")
state = "intact" if hashlib.sha256(data).hexdigest() == expected else "CORRUPT"
log.write(f"done: {ticks} ticks, 64 MiB of memory {state}\n")
