"""progress.py ROUNDS INTERVAL_MS: a Python computation printing its progress.

Each round folds the round number into a running SHA-256 and a big integer, keeps a growing
list of results (heap objects), and prints one line, flushed. The output depends only on the
arguments, so a restored run must print exactly what an uninterrupted one prints.
"""
import hashlib
import sys
import time

rounds = int(sys.argv[1])
interval = int(sys.argv[2]) / 1000.0
digest = hashlib.sha256()
total = 1
history = []
print(f"start {rounds}", flush=True)
for i in range(1, rounds + 1):
    digest.update(i.to_bytes(8, "little"))
    total = (total * 6364136223846793005 + i) % (1 << 521)
    history.append(digest.hexdigest()[:8])
    print(f"round {i} {history[-1]} {total % 1000003}", flush=True)
    time.sleep(interval)
print(f"final {digest.hexdigest()} {len(history)} {sum(int(h, 16) for h in history)}", flush=True)
print("done", flush=True)
