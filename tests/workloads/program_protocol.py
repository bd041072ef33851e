"""A job's program speaking the program protocol (docs/protocol.md) directly, with no client
library: the protocol's own test. Every line it writes goes to OUT, a file it keeps open (so a
checkpoint captures it and a restart puts it back as it was at the cut).

  program_protocol.py OUT requests N K   asks for a checkpoint every K steps of N
  program_protocol.py OUT stop N K       asks, at step K, for a checkpoint that stops the job
  program_protocol.py OUT interval N     waits twice for the job's next periodic checkpoint
  program_protocol.py OUT hooks N MODE   registers for every event; MODE "answer" answers
                                         before_checkpoint with "ready", "silent" never does
  program_protocol.py OUT family N       a parent and its child each register, and each hook
                                         takes its time before it answers
"""
import json
import os
import socket
import sys
import threading
import time

out = open(sys.argv[1], "a", buffering=1)
mode = sys.argv[2]
steps = int(sys.argv[3])
lock = threading.Lock()


def write(line):
    with lock:
        out.write(line + "\n")


class Connection:
    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["FERMATA_SOCKET"])
        self.lines = self.sock.makefile("rb")

    def send(self, message):
        self.sock.sendall((json.dumps(message) + "\n").encode())

    def receive(self):
        return json.loads(self.lines.readline())

    def ask(self, message):
        self.send(message)
        return self.receive()


def resumed(reply):
    if reply["status"] != "ok":
        return "error " + reply["message"]
    if reply["resumed"] == "checkpointed":
        return "checkpointed %d" % reply["checkpoint"]
    return "restarted %d generation %d" % (reply["checkpoint"], reply["generation"])


requests = Connection() if mode != "family" else None


def info():
    i = requests.ask({"version": 1, "kind": "info"})
    return "info generation %d restored_from %d checkpoint %d" % (i["generation"], i["restored_from"], i["checkpoint"])


if mode == "requests":
    write(info())
    write("error " + requests.ask({"version": 2, "kind": "info"})["message"])
    write("error " + requests.ask({"kind": "info"})["message"])
    write("error " + requests.ask({"version": 1, "kind": "pause"})["message"])
    write("error " + requests.ask({"version": 1, "kind": "checkpoint", "when": "next_interval"})["message"])
    every = int(sys.argv[4])
    for i in range(1, steps + 1):
        write("step %d" % i)
        if i % every == 0:
            reply = resumed(requests.ask({"version": 1, "kind": "checkpoint", "when": "now"}))
            write(reply)
            if reply.startswith("restarted"):
                write(info())
        time.sleep(0.3)
elif mode == "stop":
    at = int(sys.argv[4])
    for i in range(1, steps + 1):
        write("step %d" % i)
        if i == at:
            write(resumed(requests.ask({"version": 1, "kind": "checkpoint", "stop": True})))
        time.sleep(0.1)
elif mode == "interval":
    for i in range(1, steps + 1):
        write("step %d" % i)
        write(resumed(requests.ask({"version": 1, "kind": "checkpoint", "when": "next_interval"})))
elif mode == "hooks":
    answer = sys.argv[4] == "answer"
    events = Connection()
    registered = events.ask({"version": 1, "kind": "register", "events": ["before_checkpoint", "after_checkpoint", "after_restart"]})
    write("registered " + registered["status"])

    def serve():
        while True:
            event = events.receive()
            name = event["event"]
            if name == "after_restart":
                write("event after_restart %d generation %d" % (event["checkpoint"], event["generation"]))
            else:
                write("event %s %d" % (name, event["checkpoint"]))
            if name == "before_checkpoint":
                if answer:
                    write("flushed")
                    events.send({"version": 1, "kind": "ready"})
                else:
                    time.sleep(3600)

    threading.Thread(target=serve, daemon=True).start()
    for i in range(1, steps + 1):
        write("step %d" % i)
        time.sleep(0.1)
elif mode == "family":
    child = os.fork()
    who = "child" if child == 0 else "parent"
    events = Connection()  # each process its own connection, made after the fork
    events.ask({"version": 1, "kind": "register", "events": ["before_checkpoint", "after_restart"]})
    write("registered " + who)

    def serve():
        while True:
            event = events.receive()
            if event["event"] == "before_checkpoint":
                time.sleep(1.0 if who == "child" else 0.5)
                write("flushed by " + who)
                events.send({"version": 1, "kind": "ready"})
            else:
                write("after_restart %s %d" % (who, event["checkpoint"]))

    threading.Thread(target=serve, daemon=True).start()
    for i in range(1, steps + 1):
        if who == "parent":
            write("step %d" % i)
        time.sleep(0.1)
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
write("done")
