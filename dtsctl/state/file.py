"""The state file on disk: read, atomic write with backup, lock."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dtsctl.errors import DtsError
from dtsctl.jsonfile import write_json_atomic
from dtsctl.state import lock as state_lock
from dtsctl.state.lock import LockInfo
from dtsctl.state.model import State

STATE_FILE_NAME = "dtsctl.state.json"
FILE_MODE = 0o600


class StateFile:
    """`path` plus its companions `<path>.backup` (the previous version) and `<path>.lock`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def read(self) -> State:
        """The recorded state; a new empty state (serial 0, not yet written) when there is no file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except OSError as err:
            raise DtsError(f"cannot read state file {self.path} ({err.strerror}); check its permissions") from err
        try:
            data = json.loads(text)
        except ValueError as err:
            raise DtsError(
                f"state file {self.path} is not valid JSON ({err}); restore it from {self.backup_path}"
            ) from err
        return State.from_json(data, str(self.path))

    def write(self, state: State) -> None:
        """Write `state` as serial + 1, keeping the file it replaces as the backup.

        Refuses when the file on disk belongs to another lineage or is newer than
        `state`: someone wrote it after `state` was read.
        """
        self._check_not_overtaken(state)
        document = state.to_json()
        document["serial"] = state.serial + 1
        if self.path.exists():
            self._copy_to_backup()
        write_json_atomic(self.path, document, mode=FILE_MODE)
        state.serial += 1

    def _check_not_overtaken(self, state: State) -> None:
        if not self.path.exists():
            return
        on_disk = self.read()
        if on_disk.lineage != state.lineage:
            raise DtsError(
                f"state file {self.path} belongs to another lineage ({on_disk.lineage}, writing {state.lineage}); "
                f"check the --state path"
            )
        if on_disk.serial > state.serial:
            raise DtsError(
                f"state file {self.path} changed while this command ran (serial {on_disk.serial}, read {state.serial}); "
                f"run the command again"
            )

    def _copy_to_backup(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.backup_path.name}.", dir=self.path.parent)
        os.close(fd)
        try:
            shutil.copyfile(self.path, tmp)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, self.backup_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @contextmanager
    def lock(self, operation: str, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the state lock for the with-block; fails at once, or after `timeout` seconds, if held."""
        info = state_lock.acquire(self.lock_path, operation, timeout)
        try:
            yield info
        finally:
            state_lock.release(self.lock_path, info)

    def force_unlock(self, lock_id: str) -> None:
        state_lock.force_unlock(self.lock_path, lock_id)
