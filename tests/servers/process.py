"""What MariaDB and Redis servers share: a child process in a private directory.

Lifecycle guarantees:

* every server is launched in its own session (Ctrl-C in the terminal reaches
  pytest, whose finalizers stop the servers, not the servers directly);
* launched from the main thread, the child gets ``PR_SET_PDEATHSIG`` so it dies
  with the test process even on SIGKILL of pytest (Linux);
* :func:`stop_all` runs at interpreter exit (atexit) for anything still alive;
* temporary directories live under ``/tmp/dtsctl-servers-<pid>-*``; stale ones
  whose owning pid is gone are removed when the next session starts a server.

Set ``DTSCTL_KEEP_SERVER_DIRS=1`` to keep the directories (logs, datadirs).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DIR_PREFIX = "dtsctl-servers-"
_live: set["ServerProcess"] = set()
_live_lock = threading.Lock()
_swept = False
# (kind, seconds) of every successful start in this process, for reports.
startup_log: list[tuple[str, float]] = []


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


class PortInUse(ServerStartError):
    """The server could not bind its port (someone took it after we probed)."""


def _pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def keep_dirs() -> bool:
    return os.environ.get("DTSCTL_KEEP_SERVER_DIRS", "") not in ("", "0", "false", "no")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_dirs() -> None:
    """Remove /tmp/dtsctl-servers-<pid>-* left by sessions that died hard."""
    global _swept
    if _swept:
        return
    _swept = True
    tmp = Path(tempfile.gettempdir())
    for entry in tmp.glob(DIR_PREFIX + "*"):
        try:
            pid = int(entry.name[len(DIR_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


_root: Path | None = None


def session_root() -> Path:
    """This process's directory for all its servers: /tmp/dtsctl-servers-<pid>-XXXX."""
    global _root
    with _live_lock:
        if _root is None or not _root.exists():
            sweep_stale_dirs()
            _root = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
        return _root


def make_dir(kind: str) -> Path:
    """A fresh short directory (unix socket paths must stay under 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=session_root()))


class ServerProcess:
    """A server child process; subclasses define the command and readiness probe."""

    host = "127.0.0.1"
    kind = "server"
    startup_timeout = 60.0
    stop_timeout = 30.0

    def __init__(self, *, base_dir: str | os.PathLike | None = None) -> None:
        self.dir = Path(base_dir) if base_dir else make_dir(self.kind)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None  # of the last start()
        self._launched_at = 0.0
        self._closed = False

    # -- to override ---------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def log_path(self) -> Path:
        raise NotImplementedError

    def ping(self) -> bool:
        """True when the server answers; may raise / return False while starting."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Called before each launch (create datadir, write config ...)."""

    def pick_port(self) -> int:
        from tests.servers.ports import free_port

        return free_port(self.host)

    # -- lifecycle -----------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def launch(self) -> None:
        """Spawn the process without waiting (see :meth:`wait_ready`)."""
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        if self._closed:
            raise RuntimeError(f"{self!r} was closed; its directory is gone")
        if self.port is None:
            self.port = self.pick_port()
        self.prepare()
        out = open(self.dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig if threading.current_thread() is threading.main_thread() else None,
            )
        finally:
            out.close()
        self._launched_at = time.monotonic()
        with _live_lock:
            _live.add(self)

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = self._launched_at + (timeout or self.startup_timeout)
        assert self.proc is not None, "launch() first"
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = self.log_tail()
                cls = PortInUse if "already in use" in tail.lower() or "errno: 98" in tail else ServerStartError
                raise cls(f"{self!r} exited with code {code} while starting; log tail:\n{tail}")
            try:
                if self.ping():
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.kill()
                raise ServerStartError(
                    f"{self!r} did not answer within {timeout or self.startup_timeout:.0f}s; "
                    f"log tail:\n{tail}"
                )
            time.sleep(0.02)
        self.startup_seconds = time.monotonic() - self._launched_at
        startup_log.append((self.kind, self.startup_seconds))

    def start(self, timeout: float | None = None) -> "ServerProcess":
        """Launch and wait until the server answers; returns self.

        On a first start, a port taken by someone else is retried on a new port.
        """
        first = self.port is None
        for attempt in range(3):
            started = time.monotonic()
            self.launch()
            try:
                self.wait_ready(timeout)
            except PortInUse:
                if not first or attempt == 2:
                    raise
                self.port = None  # probe another one
                continue
            self.startup_seconds = time.monotonic() - started
            return self
        raise AssertionError("unreachable")

    def _signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float | None = None) -> None:
        """Clean shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout``."""
        if self.proc is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout or self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._forget()

    def kill(self) -> None:
        """SIGKILL: a crash. The directory is kept; :meth:`start` recovers."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - D state
            pass
        self._forget()

    def _forget(self) -> None:
        with _live_lock:
            _live.discard(self)

    def restart(self, timeout: float | None = None) -> "ServerProcess":
        """Stop, then start again on the same port and directory."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stop and remove the directory (unless DTSCTL_KEEP_SERVER_DIRS is set)."""
        self.stop()
        self._closed = True
        if not keep_dirs():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- diagnostics ---------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for p in (self.log_path(), self.dir / "stdout.log"):
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            if text.strip():
                chunks.append(f"--- {p} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(chunks) or "(no log output)"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"


def start_all(servers: list[ServerProcess], timeout: float | None = None) -> None:
    """Launch every server, then wait for all (they boot in parallel)."""
    launched: list[ServerProcess] = []
    try:
        for s in servers:
            s.launch()
            launched.append(s)
        retry = []
        for s in servers:
            try:
                s.wait_ready(timeout)
            except PortInUse:
                s.port = None
                retry.append(s)
        for s in retry:
            s.start(timeout)
    except BaseException:
        for s in launched:
            s.kill()
        raise


def stop_all() -> None:
    """Stop every server still alive in this process (registered with atexit)."""
    with _live_lock:
        servers = list(_live)
    for s in servers:
        try:
            s.stop(timeout=10)
        except Exception as exc:  # pragma: no cover
            print(f"dtsctl tests: could not stop {s!r}: {exc}", file=sys.stderr)
    if _root is not None and not keep_dirs():
        shutil.rmtree(_root, ignore_errors=True)


atexit.register(stop_all)


def install_sigterm_handler() -> bool:
    """On SIGTERM (CI cancel / timeout), stop our servers, then die of SIGTERM as
    usual. Installed only from the main thread and only over the default handler;
    returns whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False

    def on_term(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        try:
            stop_all()
        finally:
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    return True
