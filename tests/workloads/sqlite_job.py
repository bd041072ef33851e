"""sqlite_job.py OUTFILE DATABASE STEPS INTERVAL_MS GATE_AT GATEFILE: a job keeping its state
in a SQLite database it updates in place (Python's sqlite3 module, the default rollback journal).

Each step, in one transaction, adds to a counter and records a row computed from the counter
and the rows so far; it then reads the totals back and appends "tick N TOTAL ROWS" to OUTFILE.
A run that finds the database of a later step prints other totals at once. After step GATE_AT
it waits until GATEFILE exists, outside any transaction, so a test can kill it at a known step.
"""
import os
import sqlite3
import sys
import time

out_path, db_path = sys.argv[1], sys.argv[2]
steps, interval, gate_at, gate = int(sys.argv[3]), int(sys.argv[4]) / 1000.0, int(sys.argv[5]), sys.argv[6]
out = open(out_path, "a")
db = sqlite3.connect(db_path)
db.execute("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, value INTEGER)")
db.execute("CREATE TABLE IF NOT EXISTS rows (step INTEGER, value INTEGER, note TEXT)")
db.execute("INSERT OR IGNORE INTO counter VALUES (1, 0)")
db.commit()
print("start", file=out, flush=True)
for step in range(1, steps + 1):
    with db:
        db.execute("UPDATE counter SET value = (value * 31 + ?) % 1000000007 WHERE id = 1", (step,))
        (value,) = db.execute("SELECT value FROM counter WHERE id = 1").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM rows").fetchone()
        db.execute("INSERT INTO rows VALUES (?, ?, ?)", (step, (value + rows) % 999983, "x" * (step % 200)))
    total, count = db.execute("SELECT sum(value), count(*) FROM rows").fetchone()
    print(f"tick {step} {total} {count}", file=out, flush=True)
    if step == gate_at:
        while not os.path.exists(gate):
            time.sleep(0.01)
    time.sleep(interval)
total, count = db.execute("SELECT sum(value), count(*) FROM rows").fetchone()
print(f"done {total} {count}", file=out, flush=True)
