"""Detached processes: spawn in their own session, check liveness, stop gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def spawn_detached(module: str, argument: Path, log_path: Path, cwd: Path,
                   options: tuple[str, ...] = (), stdin_pipe: bool = False) -> subprocess.Popen[bytes]:
    """Start `python -m module [options] argument` in a new session, output appended to `log_path`;
    with `stdin_pipe`, its standard input is a pipe from this process (`Popen.stdin`).

    A new session means the process outlives the CLI and is not hit by the
    terminal's Ctrl-C.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, *options, str(argument)],
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_running(pid: int | None, marker: str) -> bool:
    """Whether `pid` is a live (not zombie) process whose command line contains `marker`.

    Checking the command line guards against a recycled pid.
    """
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
        if state in (b"Z", b"X"):
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return marker.encode() in cmdline.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def stop_process(pid: int, marker: str, grace_seconds: float) -> bool:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL. Returns True if it had to kill."""
    if not is_running(pid, marker):
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not is_running(pid, marker):
            return False
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    while is_running(pid, marker):
        time.sleep(0.05)
    return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
