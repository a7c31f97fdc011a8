"""The state lock: a file that exists while one command may write the state.

The lock file is written completely under a temporary name and then hard-linked
to its final name; `link` fails when the name exists, so taking the lock is
atomic across processes and a reader never sees a half-written lock. A lock
whose holder died stays until the user runs `dtsctl force-unlock ID`: breaking it
silently could let two writers in.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from dtsctl.errors import DtsError

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    created: str

    @classmethod
    def new(cls, operation: str) -> "LockInfo":
        return cls(
            id=str(uuid.uuid4()),
            operation=operation,
            who=f"{_user()}@{socket.gethostname()} pid {os.getpid()}",
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def read_lock(path: Path) -> LockInfo | None:
    """The current lock, or None when unlocked. An unreadable lock file is an error, not a free lock."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(id=data["id"], operation=data["operation"], who=data["who"], created=data["created"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise DtsError(f"lock file {path} is unreadable ({err}); if no dtsctl command is running, delete it") from err


def _try_create(path: Path, info: LockInfo) -> bool:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(info), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _contention_error(holder: LockInfo) -> DtsError:
    return DtsError(
        f"state is locked by {holder.who} for {holder.operation} since {holder.created} (lock {holder.id}); "
        f"wait, or run `dtsctl force-unlock {holder.id}` if that process is gone"
    )


def acquire(path: Path, operation: str, timeout: float = 0.0) -> LockInfo:
    """Take the lock at `path`, polling up to `timeout` seconds while another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = LockInfo.new(operation)
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        if _try_create(path, info):
            return info
        holder = read_lock(path)
        if holder is None:
            continue  # released between our attempt and the read: try again at once
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _contention_error(holder)
        time.sleep(min(POLL_SECONDS, remaining))


def release(path: Path, info: LockInfo) -> None:
    """Remove the lock if it is still ours (it may have been force-unlocked and taken by another)."""
    try:
        current = read_lock(path)
    except DtsError:
        return
    if current is not None and current.id == info.id:
        path.unlink(missing_ok=True)


def force_unlock(path: Path, lock_id: str) -> None:
    """Remove the lock with id `lock_id`, whoever holds it."""
    current = read_lock(path)
    if current is None:
        raise DtsError(f"the state is not locked ({path} does not exist); nothing to unlock")
    if current.id != lock_id:
        raise DtsError(
            f"lock ID {lock_id} does not match the current lock {current.id} held by {current.who}; "
            f"pass that ID to force-unlock"
        )
    path.unlink(missing_ok=True)
