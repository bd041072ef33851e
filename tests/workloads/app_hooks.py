"""app_hooks.py OUTPUT STEPS INTERVAL_MS FLUSH_EVERY SERVER [GATE_AT GATEFILE]

A program that uses Fermata's hooks the way a real one would (clients/python/fermata.py).

Each step appends "step I" to a buffer in memory, which goes to OUTPUT every FLUSH_EVERY steps,
and sends "step I" to a server outside the job over a Unix socket (SERVER is its path, or
HOST:PORT for TCP). Before each checkpoint the hook flushes the buffer and closes the connection
to the server: a connection to a peer outside the job cannot be checkpointed (the checkpoint is
refused naming it), and the server is not rolled back with the job anyway. After the checkpoint
the connection is made again; after a restart too, and the program writes "reconnected after
restart from checkpoint C". No step runs while the connection is closed, so a restored program
takes up exactly where its checkpoint left it. Before step GATE_AT it waits until GATEFILE
exists, so a test's checkpoints land mid-run. The first line says whether Fermata is enabled;
the last is "done".
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import fermata  # noqa: E402


class App:
    def __init__(self, output, server):
        self.output = open(output, "a")
        self.server = server
        self.buffer = []
        self.changed = threading.Condition()  # guards buffer and connection
        self.connection = None

    def connect(self):
        if ":" in self.server and not self.server.startswith("/"):
            host, port = self.server.rsplit(":", 1)
            return socket.create_connection((host, int(port)))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.server)
        return s

    def flush(self):
        if self.buffer:
            self.output.write("".join(line + "\n" for line in self.buffer))
            self.output.flush()
            del self.buffer[:]

    # Hooks, on the fermata event thread.

    def before_checkpoint(self, event):
        with self.changed:
            self.flush()
            if self.connection is not None:
                self.connection.close()
                self.connection = None

    def reopen(self, event):
        with self.changed:
            if self.connection is None:
                self.connection = self.connect()
            self.changed.notify_all()

    def after_restart(self, event):
        with self.changed:
            self.buffer.append("reconnected after restart from checkpoint %d" % event.checkpoint)
        self.reopen(event)

    # The program's own work.

    def step(self, i, flush_every):
        with self.changed:
            while self.connection is None:  # closed for a checkpoint: wait until it is back
                self.changed.wait()
            self.buffer.append("step %d" % i)
            self.connection.sendall(b"step %d\n" % i)
            if i % flush_every == 0:
                self.flush()


def main():
    output, steps, interval_ms, flush_every, server = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    gate_at, gate = (int(sys.argv[6]), sys.argv[7]) if len(sys.argv) > 7 else (0, "")
    app = App(output, server)
    app.connection = app.connect()
    fermata.register(before_checkpoint=app.before_checkpoint, after_checkpoint=app.reopen,
                     after_restart=app.after_restart, checkpoint_failed=app.reopen)
    info = fermata.info()
    app.buffer.append("fermata not enabled" if info is None else "fermata enabled, generation %d" % info.generation)
    for i in range(1, steps + 1):
        if i == gate_at:
            while not os.path.exists(gate):
                time.sleep(0.01)
        app.step(i, flush_every)
        time.sleep(interval_ms / 1000.0)
    with app.changed:
        app.buffer.append("done")
        app.flush()
        if app.connection is not None:
            app.connection.close()


if __name__ == "__main__":
    main()
