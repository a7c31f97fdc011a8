"""How dtsctl opens the SQLite files it keeps changes in: the change log and a subscription's
record store. Both append at the tail, delete at the head, and must keep what they hold through
a power loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, timeout_seconds: float) -> sqlite3.Connection:
    """An autocommit connection to the log at `path`, made in WAL mode if new.

    `synchronous=FULL`: what a log holds has left the place it came from (a capture table is
    trimmed, a change log is trimmed once its records are in a store), so a commit must
    survive power loss, not only a crash of the process.

    `secure_delete=FAST`: Debian's SQLite overwrites deleted rows with zeros by default, which
    makes every trim write each page it frees to the WAL and then to the file again; FAST zeroes
    only the pages a delete writes anyway. A trim then cost a quarter of the CPU, and a reader
    no longer waited for it to release the write lock. What is deleted is a copy of rows the
    source and destination keep."""
    conn = sqlite3.connect(path, timeout=timeout_seconds, isolation_level=None)
    _enable_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=FAST")
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Put a new log in WAL mode, which its file then keeps. sqlite_utils is imported only for
    that: 50 ms that a resuming agent would otherwise spend before its reader starts."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        import sqlite_utils

        sqlite_utils.Database(conn).enable_wal()
