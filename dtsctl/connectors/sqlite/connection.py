"""Opening SQLite files safely, and turning availability errors into ConnectionFailure."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator

from dtsctl.engine.errors import ConnectionFailure, EndpointMissing
from dtsctl.errors import DtsError

BUSY_TIMEOUT_SECONDS = 5.0
# Messages of sqlite3.OperationalError that mean "not available right now", not "wrong".
_TRANSIENT = ("database is locked", "database table is locked", "unable to open database file",
              "disk i/o error", "database is busy")


def quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def open_existing(path: str, role: str) -> sqlite3.Connection:
    """Open a database file that must already exist (a source); autocommit mode."""
    file = Path(path)
    if not file.exists():
        raise EndpointMissing(f"{role} file {path} does not exist; create it or fix endpoint `path`")
    with translate_errors(role, path):
        conn = sqlite3.connect(f"{file.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                               isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise DtsError(f"{role} file {path} is not a SQLite database; fix endpoint `path`") from exc
            raise
    return conn


def open_or_create(path: str, role: str) -> sqlite3.Connection:
    """Open a database file, creating it when absent (a destination); autocommit mode."""
    file = Path(path)
    if not file.parent.is_dir():
        raise ConnectionFailure(f"{role} folder {file.parent} does not exist; create it or fix endpoint `path`")
    with translate_errors(role, path):
        conn = sqlite3.connect(file, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc):
                raise DtsError(f"{role} file {path} is not a SQLite database; fix endpoint `path`") from exc
            raise
    return conn


def try_enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (readers never block the writer); leave the mode alone if others hold the file."""
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode=WAL").fetchone()


@contextlib.contextmanager
def translate_errors(role: str, path: str) -> Iterator[None]:
    """Raise ConnectionFailure for errors that mean the file is unavailable right now."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if any(text in str(exc).lower() for text in _TRANSIENT):
            raise ConnectionFailure(f"{role} file {path}: {exc}") from exc
        raise


class SqliteFile:
    """An endpoint's file, opened on first use in its role ("source" or "destination"), whose
    availability errors name that role."""

    role: str
    path: str
    _conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        raise NotImplementedError

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _errors(self) -> Any:
        return translate_errors(self.role, self.path)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, immediate: bool = True) -> Iterator[None]:
    """BEGIN [IMMEDIATE] ... COMMIT on an autocommit connection; ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
