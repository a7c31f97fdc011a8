"""The reader every pipeline shares: a source -> the change log, in its own OS process.

The reader (source protocol, row decoding, change-log appends) and the applier (the agent's
main process) run on separate cores. They only share the durable change log: the reader
commits its source position with each append, the applier its checkpoint with each
destination transaction, so either process may die at any instant and both resume from
their own checkpoints. A reader process killed from outside is forked again by the agent;
one that fails hands its error to the agent, which decides retry or exit as before.

The child is forked from the agent's main thread (at `start`, and again from `check`), not
from a helper thread, so it inherits no lock a helper thread holds halfway. It reports
through a pipe: its progress calls, "appended", and its error; it dies with the agent
(PR_SET_PDEATHSIG, and a broken pipe).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import pickle
import signal
import struct
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Generic, TypeVar

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.progress import Progress

log = logging.getLogger(__name__)

READER_LOCK = "reader.lock"  # beside a shared change log: held by the one agent that reads the source
TAKE_TURN_SECONDS = 0.5
RESTART_AFTER_SECONDS = 1.0  # a reader process killed from outside is forked again at most this often
STOP_WAIT_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1
_HEADER = struct.Struct("!I")

SourceT = TypeVar("SourceT")


class ChangeLogReader(Generic[SourceT]):
    """Feeds the change log from a source it opens itself, in a child process; `_loop` does the reading.

    It never waits for the applier. The agent sees it like a thread: `start`, `stop`, `join`,
    `is_alive`, `error` (the reader's failure) and `check` (raise that failure, or fork a
    killed reader again). `pid` is the reader process's id while it runs.
    """

    def __init__(self, make_source: Callable[[], SourceT], changelog_path: Path, progress: Progress,
                 appended: threading.Event, shared: bool = False) -> None:
        self._make_source = make_source
        self._changelog_path = changelog_path
        self._progress = progress
        self._appended = appended
        self._shared = shared
        self._halt = threading.Event()
        self.error: BaseException | None = None
        self.pid: int | None = None
        self._relay: threading.Thread | None = None
        self._died_at: float | None = None
        self._started_at = 0.0

    # -- the agent's side ---------------------------------------------------------------
    def start(self) -> None:
        """Fork the reader process (call from the agent's main thread)."""
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:  # the reader process
            code = 1
            try:
                os.close(readable)
                code = self._child(writable)
            finally:
                os._exit(code)  # no parent's finalizer (SQLite, sockets) may run here
        os.close(writable)
        self.pid, self._died_at, self._started_at = pid, None, time.monotonic()
        self._progress.reader_started(pid)
        self._relay = threading.Thread(target=self._listen, args=(pid, readable), name="reader-relay", daemon=True)
        self._relay.start()

    def check(self) -> None:
        """Raise the reader's failure; fork a reader killed from outside again (from the main thread)."""
        if self.error is not None:
            raise self.error
        if self._died_at is None and not self.is_alive():
            raise RuntimeError("the reader ended unexpectedly")
        if self._died_at is not None and not self._halt.is_set():
            if time.monotonic() - self._started_at >= RESTART_AFTER_SECONDS:
                log.warning("the reader process ended without an error; starting it again from its position")
                self.start()

    def is_alive(self) -> bool:
        return self._relay is not None and self._relay.is_alive()

    def stop(self) -> None:
        self._halt.set()
        if self.pid is not None and self._died_at is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def join(self, timeout: float | None = None) -> None:
        if self._relay is None:
            return
        self._relay.join(timeout=STOP_WAIT_SECONDS if timeout is None else min(timeout, STOP_WAIT_SECONDS))
        if self._relay.is_alive() and self.pid is not None:  # stuck in a source read: end it
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._relay.join(timeout=5)

    def _listen(self, pid: int, readable: int) -> None:
        """Relay the reader process's messages until it ends, then reap it."""
        with os.fdopen(readable, "rb") as pipe:
            for kind, payload in _messages(pipe):
                if kind == "appended":
                    self._appended.set()
                elif kind == "progress":
                    name, args = payload
                    getattr(self._progress, name)(*args)
                elif kind == "error":
                    self.error = payload
        _, status = os.waitpid(pid, 0)
        self._progress.reader_started(None)  # before `check` may start the next one
        if self.error is None and not self._halt.is_set():
            log.warning("the reader process %d ended (%s)", pid, _describe(status))
            self._died_at = time.monotonic()
        self._appended.set()  # wake the applier loop: it raises the error or restarts the reader

    # -- the reader process --------------------------------------------------------------
    def _child(self, writable: int) -> int:
        _die_with(os.getppid())
        self._halt = threading.Event()  # the parent's may be locked by a thread that is not here
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._halt_soon())
        out = _Channel(writable)
        self._progress = _ProgressRelay(out)  # type: ignore[assignment]
        self._appended = _AppendedRelay(out)  # type: ignore[assignment]
        try:
            self._read()
        except BaseException as exc:  # handed to the agent, which decides retry or exit
            out.send("error", _picklable(exc))
            return 1
        return 0

    def _halt_soon(self) -> None:
        """Set `_halt` from a signal handler. Not directly: the handler may have interrupted this
        thread inside `_halt.set()` (a second signal, e.g. the agent's SIGTERM and then the kernel's
        on its death), and re-entering would wait forever on the lock that thread holds, leaving
        an orphan that keeps the dead agent's destination connection and its locks open."""
        threading.Thread(target=self._halt.set, daemon=True).start()

    def _read(self) -> None:
        with contextlib.ExitStack() as held:
            if self._shared:
                lock = held.enter_context(open(self._changelog_path.parent / READER_LOCK, "a+"))
                if not self._take_turn(lock):
                    return
                log.info("reading the source for every destination of the topology")
            source = self._make_source()
            held.callback(source.close)  # type: ignore[attr-defined]
            changelog = ChangeLog(self._changelog_path)
            held.callback(changelog.close)
            self._loop(source, changelog)

    def _take_turn(self, lock: IO[str]) -> bool:
        """A shared log has one reader among the agents that apply it: wait until this agent holds
        the log's reader lock (its holder stopped or died). False when stopped first."""
        while not self._halt.is_set():
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                self._halt.wait(TAKE_TURN_SECONDS)
        return False

    def _loop(self, source: SourceT, changelog: ChangeLog) -> None:
        raise NotImplementedError

    def _advanced(self, position: str, newest_commit_time: float | None, events: int = 0) -> None:
        """Count `events` read, and show the reader's position as this agent's checkpoint. The
        destinations of a shared log each show their own applied position instead
        (dtsctl.engine.applier_status)."""
        if self._shared:
            self._progress.reader_advanced(None, None, events, position)
        else:
            self._progress.reader_advanced(position, newest_commit_time, events, position)


class _Channel:
    """Length-prefixed pickles from the reader process to the agent (both are dtsctl)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, kind: str, payload: Any = None) -> None:
        data = pickle.dumps((kind, payload))
        message = memoryview(_HEADER.pack(len(data)) + data)
        while message:
            message = message[os.write(self._fd, message):]


def _messages(pipe: IO[bytes]) -> Any:
    while True:
        header = pipe.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        data = pipe.read(_HEADER.unpack(header)[0])
        try:
            yield pickle.loads(data)
        except Exception:  # a message cut short by the reader's death
            return


class _ProgressRelay:
    """Stands for the agent's Progress in the reader process: each call goes to the agent."""

    def __init__(self, out: _Channel) -> None:
        self._out = out

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args: self._out.send("progress", (name, args))


class _AppendedRelay:
    """Stands for the agent's `appended` event in the reader process."""

    def __init__(self, out: _Channel) -> None:
        self._out = out

    def set(self) -> None:
        self._out.send("appended")


def _picklable(exc: BaseException) -> BaseException:
    """`exc` when it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _die_with(parent: int) -> None:
    """Have the kernel stop this process when the agent dies (Linux), even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the agent died before the request took effect
        os._exit(0)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
