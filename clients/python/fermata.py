"""fermata: a Python program's side of Fermata's program protocol (docs/protocol.md).

A program running under ``fermata launch``, ``fermata run`` or ``fermata restart`` finds its
job's launcher through the Unix socket named by FERMATA_SOCKET. Through it the program can learn
about its job (``info``), ask for a checkpoint of the whole job at a point of its own choosing
(``checkpoint``), and be told before and after each checkpoint and after a restart
(``register``), so that it can flush buffers and close connections to servers outside the job,
which a checkpoint could not take with it.

Without FERMATA_SOCKET the program is not running under Fermata: ``enabled()`` is False and every
call does nothing (``info`` and ``checkpoint`` return None), so the same program runs with and
without Fermata. The same holds once no launcher is found at the path any more (a job restored
without one: its connections read end of file, and a new one finds nobody listening).

Standard library only, Python 3.8 or later. Example::

    import fermata

    def flush(event):
        output.write("".join(pending)); output.flush(); pending.clear()

    fermata.register(before_checkpoint=flush)
    for step in range(start, steps):
        compute(step)
        if step % 100 == 0:
            outcome = fermata.checkpoint()
            if outcome and outcome.resumed == "restarted":
                print("restarted from checkpoint", outcome.checkpoint)
"""
import json
import os
import socket
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Callable, List, Optional

__all__ = [
    "FermataError", "Info", "Outcome", "BeforeCheckpoint", "AfterCheckpoint", "AfterRestart",
    "CheckpointFailed", "Registration", "enabled", "info", "checkpoint", "register",
]

#: The protocol version this module speaks.
VERSION = 1

#: The longest line either side may send, its newline included.
MAX_LINE = 4096

_SOCKET_VARIABLE = "FERMATA_SOCKET"


class FermataError(Exception):
    """The launcher refused or failed a request (its one-line reason is the message), or it
    broke the protocol (a malformed or over-long reply)."""


@dataclass(frozen=True)
class Info:
    """What the launcher knows of the job (the reply to ``info``)."""

    generation: int
    """How many times the job has been started: 1 after launch, one more after each restart."""
    restored_from: int
    """The checkpoint this generation was restored from; 0 after launch."""
    checkpoint: int
    """The number of the job's latest checkpoint; 0 when there is none yet."""
    directory: str
    """The job's checkpoint directory, as this generation's launcher knows it."""
    latest: str
    """The latest checkpoint's path; "" when there is none."""
    seconds_since_checkpoint: float
    """Since the latest checkpoint was taken, or since launch when there is none."""
    interval: float
    """The job's --interval in seconds; 0 when it has none."""


@dataclass(frozen=True)
class Outcome:
    """The reply to ``checkpoint``, which comes once in each life of the process, like fork's
    two returns: ``resumed`` is "checkpointed" in the program that goes on after the checkpoint,
    "restarted" in the program restored from it."""

    resumed: str
    """"checkpointed" or "restarted"."""
    checkpoint: int
    """The checkpoint's number."""
    path: str
    """The checkpoint's path."""
    generation: int
    """The generation of the job this process now belongs to."""

    @property
    def restarted(self) -> bool:
        """True in the life restored from the checkpoint."""
        return self.resumed == "restarted"


@dataclass(frozen=True)
class BeforeCheckpoint:
    """The job is about to be frozen for checkpoint ``checkpoint``. The hook prepares (flushes,
    closes connections outside the job); the launcher waits for it at most
    ``deadline_seconds``."""

    checkpoint: int
    deadline_seconds: float


@dataclass(frozen=True)
class AfterCheckpoint:
    """Checkpoint ``checkpoint`` is on disk at ``path`` and the job runs on."""

    checkpoint: int
    path: str


@dataclass(frozen=True)
class AfterRestart:
    """The job was restored from checkpoint ``checkpoint`` and runs again as generation
    ``generation``."""

    checkpoint: int
    generation: int


@dataclass(frozen=True)
class CheckpointFailed:
    """Checkpoint ``checkpoint`` failed (``message`` says why) and the job runs on: whatever
    before_checkpoint paused can resume."""

    checkpoint: int
    message: str


class _LineSocket:
    """A connection to the launcher that carries one JSON object per line."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self._pending = b""

    def send(self, message: dict) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        if len(data) > MAX_LINE:
            raise FermataError("request of %d bytes is longer than the protocol's %d" % (len(data), MAX_LINE))
        self.sock.sendall(data)

    def read(self) -> Optional[dict]:
        """The next message; None at end of file (the launcher closed the connection)."""
        while b"\n" not in self._pending:
            if len(self._pending) >= MAX_LINE:
                raise FermataError("the launcher sent a line longer than %d bytes" % MAX_LINE)
            chunk = self.sock.recv(MAX_LINE)
            if not chunk:
                return None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        if len(line) + 1 > MAX_LINE:
            raise FermataError("the launcher sent a line longer than %d bytes" % MAX_LINE)
        try:
            message = json.loads(line.decode("utf-8"))
        except ValueError as e:
            raise FermataError("the launcher sent a malformed line: %s" % e) from None
        if not isinstance(message, dict):
            raise FermataError("the launcher sent a line that is not a JSON object")
        return message

    def close(self) -> None:
        self.sock.close()


class _Requests:
    """The process's one request connection, made on first use.

    Requests and replies go strictly in turn on it, so a lock lets one thread at a time through.
    A forked child must not share it with its parent: the PID it was made in tells, and the
    child connects anew. A connection the launcher closed is made again once.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.conn = None  # type: Optional[_LineSocket]
        self.pid = 0
        self.gone = False  # nobody listens at FERMATA_SOCKET any more

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def connected(self, path: str) -> Optional[_LineSocket]:
        """The connection, made now if there is none or it is the parent's; None when no
        launcher listens at the path (the job was restored without one)."""
        if self.conn is not None and self.pid != os.getpid():
            # The parent's: closing our copy of the descriptor leaves the parent's alone.
            self.drop()
        if self.conn is None:
            try:
                self.conn = _LineSocket(path)
            except (FileNotFoundError, ConnectionRefusedError):
                self.gone = True
                return None
            except OSError as e:
                raise FermataError("cannot connect to the launcher at %s: %s" % (path, e)) from None
            self.pid = os.getpid()
        return self.conn

    def ask(self, request: dict) -> Optional[dict]:
        """Sends a request and returns its reply; None when Fermata is not (or no longer)
        enabled. Raises FermataError for the launcher's error replies."""
        path = os.environ.get(_SOCKET_VARIABLE)
        if not path:
            return None
        with self.lock:
            for attempt in range(2):
                if self.gone:
                    return None
                conn = self.connected(path)
                if conn is None:
                    return None
                try:
                    conn.send(request)
                    reply = conn.read()
                except (BrokenPipeError, ConnectionResetError):
                    reply = None
                except BaseException:
                    # The connection is out of step with its replies now; start afresh.
                    self.drop()
                    raise
                if reply is not None:
                    break
                self.drop()
            else:
                raise FermataError("the launcher closed the connection twice without replying")
        if reply.get("status") == "error":
            raise FermataError(str(reply.get("message", "the launcher refused the request")))
        if reply.get("status") != "ok":
            raise FermataError("unexpected reply from the launcher: %s" % json.dumps(reply))
        return reply


_requests = _Requests()
_registrations = []  # type: List[Registration]


def _forget_in_child() -> None:
    """After fork, in the child: the parent's connections and lock are not the child's. A lock
    another thread held at the fork would stay held forever; the descriptors are closed in the
    child only, so the parent's connections go on."""
    global _requests
    old = _requests
    _requests = _Requests()
    _requests.gone = old.gone
    if old.conn is not None:
        old.conn.close()
    for registration in list(_registrations):
        registration._conn.close()
    del _registrations[:]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def enabled() -> bool:
    """True when the program runs under a Fermata launcher (FERMATA_SOCKET is set) and the
    launcher has not been found gone."""
    return bool(os.environ.get(_SOCKET_VARIABLE)) and not _requests.gone


def info() -> Optional[Info]:
    """What the launcher knows of the job; None when Fermata is not enabled."""
    reply = _requests.ask({"version": VERSION, "kind": "info"})
    if reply is None:
        return None
    return Info(
        generation=int(reply.get("generation", 0)),
        restored_from=int(reply.get("restored_from", 0)),
        checkpoint=int(reply.get("checkpoint", 0)),
        directory=str(reply.get("directory", "")),
        latest=str(reply.get("latest", "")),
        seconds_since_checkpoint=float(reply.get("seconds_since_checkpoint", 0)),
        interval=float(reply.get("interval", 0)),
    )


def checkpoint(when: str = "now", stop: bool = False) -> Optional[Outcome]:
    """Checkpoints the whole job and waits for it; None when Fermata is not enabled.

    ``when`` is "now" or "next_interval" (wait for the job's next periodic checkpoint). With
    ``stop`` the job stops after the checkpoint, and this returns only in the restored program.
    Otherwise it returns twice, in a sense: ``resumed`` is "checkpointed" now, and "restarted"
    in the program restored from this checkpoint, later. A checkpoint that fails or is refused
    raises FermataError with the launcher's reason, and the job runs on.
    """
    if when not in ("now", "next_interval"):
        raise ValueError("when must be 'now' or 'next_interval', not %r" % (when,))
    reply = _requests.ask({"version": VERSION, "kind": "checkpoint", "when": when, "stop": bool(stop)})
    if reply is None:
        return None
    return Outcome(
        resumed=str(reply.get("resumed", "")),
        checkpoint=int(reply.get("checkpoint", 0)),
        path=str(reply.get("path", "")),
        generation=int(reply.get("generation", 0)),
    )


Hook = Optional[Callable[[object], None]]


class Registration:
    """An event connection and the daemon thread that serves it: calls the hooks as the
    launcher's events come, and answers "ready" once before_checkpoint's hook has returned
    (the launcher freezes the job when every registered connection has answered, or at its
    deadline). ``close()`` ends it."""

    def __init__(self, conn: _LineSocket, hooks: dict):
        self._conn = conn
        self._hooks = hooks
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="fermata-events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops serving events and closes the connection (the launcher stops waiting for it)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread out of its read
        except OSError:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join()
        self._conn.close()
        if self in _registrations:
            _registrations.remove(self)

    def _serve(self) -> None:
        while True:
            try:
                message = self._conn.read()
            except (OSError, FermataError) as e:
                if not self._closed:
                    print("fermata: event connection failed: %s" % e, file=sys.stderr)
                return
            if message is None:  # the launcher is gone (the job was restored without one)
                return
            kind = message.get("event")
            if kind == "before_checkpoint":
                self._call(kind, BeforeCheckpoint(int(message.get("checkpoint", 0)), float(message.get("deadline_seconds", 0))))
                try:
                    self._conn.send({"version": VERSION, "kind": "ready"})
                except OSError:
                    return
            elif kind == "after_checkpoint":
                self._call(kind, AfterCheckpoint(int(message.get("checkpoint", 0)), str(message.get("path", ""))))
            elif kind == "after_restart":
                self._call(kind, AfterRestart(int(message.get("checkpoint", 0)), int(message.get("generation", 0))))
            elif kind == "checkpoint_failed":
                self._call(kind, CheckpointFailed(int(message.get("checkpoint", 0)), str(message.get("message", ""))))
            # Anything else (an event of a later version, an error reply) is not for us.

    def _call(self, kind: str, event: object) -> None:
        hook = self._hooks.get(kind)
        if hook is None:
            return
        try:
            hook(event)
        except Exception:
            # A failing hook must not leave the launcher waiting for "ready" nor stop the events
            # that follow; it is reported the way an uncaught exception in a thread would be.
            print("fermata: the %s hook failed:" % kind, file=sys.stderr)
            traceback.print_exc()


def register(before_checkpoint: Hook = None, after_checkpoint: Hook = None, after_restart: Hook = None,
             checkpoint_failed: Hook = None) -> Optional[Registration]:
    """Opens an event connection whose daemon thread calls the given hooks, each with its event
    object (BeforeCheckpoint, AfterCheckpoint, AfterRestart, CheckpointFailed).

    before_checkpoint runs before the job is frozen, and "ready" is answered when it returns;
    after_checkpoint runs once the checkpoint is on disk and the job runs on; after_restart in the
    restored program once the whole job runs again; checkpoint_failed when a checkpoint failed
    after before_checkpoint. Returns the Registration (close() ends it), or None when Fermata is
    not enabled. A forked child does not inherit it: it registers itself if it wants events.
    """
    hooks = {"before_checkpoint": before_checkpoint, "after_checkpoint": after_checkpoint,
             "after_restart": after_restart, "checkpoint_failed": checkpoint_failed}
    events = [kind for kind in ("before_checkpoint", "after_checkpoint", "after_restart") if hooks[kind] is not None]
    if checkpoint_failed is not None and "after_checkpoint" not in events:
        events.append("after_checkpoint")  # checkpoint_failed goes to those registered for it
    if not events:
        raise ValueError("register needs at least one hook")
    path = os.environ.get(_SOCKET_VARIABLE)
    if not path or _requests.gone:
        return None
    try:
        conn = _LineSocket(path)
    except (FileNotFoundError, ConnectionRefusedError):
        _requests.gone = True
        return None
    except OSError as e:
        raise FermataError("cannot connect to the launcher at %s: %s" % (path, e)) from None
    try:
        conn.send({"version": VERSION, "kind": "register", "events": events})
        reply = conn.read()
        if reply is None:
            raise FermataError("the launcher closed the connection without replying to register")
        if reply.get("status") != "ok":
            raise FermataError(str(reply.get("message", "the launcher refused to register")))
    except BaseException:
        conn.close()
        raise
    registration = Registration(conn, hooks)
    _registrations.append(registration)
    return registration
