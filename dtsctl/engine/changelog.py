"""The durable local change log: one SQLite file (WAL) per task.

The reader appends transactions with `append`, which commits the reader's new
source position in the same SQLite transaction, so after a crash the log and
the position agree: nothing is lost and nothing is appended twice. Appliers (and
later, subscription consumers) read by sequence number; `trim` drops what every
reader of the log is past. Sequence numbers are never reused (AUTOINCREMENT).

Each thread opens its own `ChangeLog` (SQLite connections are per thread).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol, Sequence

import sqlite_utils

from dtsctl.engine.events import Position, Transaction

BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    position TEXT NOT NULL,
    commit_time REAL NOT NULL,
    origin TEXT,
    events TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_READER_POSITION = "reader_position"
_NEWEST_COMMIT_TIME = "newest_commit_time"
_TASK_ID = "task_id"


class LogRecord(Protocol):
    """What `append` stores: a `Transaction`, or another engine's record with an opaque payload
    (key-value engines store their commands as bytes and read them back with `read_raw`)."""

    position: Position
    commit_time: float
    origin: str | None

    def payload(self) -> str | bytes: ...


class ChangeLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=True)
        self.db = sqlite_utils.Database(conn)
        self.db.enable_wal()
        # FULL: the capture rows at the source are discarded once appended here, so an
        # append must survive power loss, not only a crash of the process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def bind(self, task_id: str) -> bool:
        """Make this log belong to `task_id`, emptying it if it held another task's changes.
        True when it was emptied (or new)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (_TASK_ID,)).fetchone()
        if row is not None and json.loads(row[0]) == task_id:
            return False
        self.reset()
        with _transaction(self.conn):
            self._set(_TASK_ID, task_id)
        return True

    def reset(self) -> None:
        """Forget every change and the reader position (a fresh start of the stream)."""
        with _transaction(self.conn):
            self.conn.execute("DELETE FROM changes")
            self.conn.execute("DELETE FROM meta WHERE key != ?", (_TASK_ID,))

    # -- reader side ----------------------------------------------------------------
    def reader_position(self) -> tuple[bool, Position]:
        """(True, position) once the reader has a position, else (False, None)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (_READER_POSITION,)).fetchone()
        return (False, None) if row is None else (True, json.loads(row[0]))

    def append(self, transactions: Sequence[LogRecord], position: Position) -> None:
        """Append `transactions` and set the reader position, atomically."""
        rows = [(json.dumps(tx.position), tx.commit_time, tx.origin, tx.payload()) for tx in transactions]
        newest = max((tx.commit_time for tx in transactions), default=None)
        with _transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO changes (position, commit_time, origin, events) VALUES (?, ?, ?, ?)", rows
            )
            self._set(_READER_POSITION, position)
            if newest is not None:
                self._set(_NEWEST_COMMIT_TIME, max(newest, self.newest_commit_time() or newest))

    def set_reader_position(self, position: Position) -> None:
        with _transaction(self.conn):
            self._set(_READER_POSITION, position)

    def newest_commit_time(self) -> float | None:
        """Source commit time of the newest change ever appended."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (_NEWEST_COMMIT_TIME,)).fetchone()
        return None if row is None else json.loads(row[0])

    # -- consumer side --------------------------------------------------------------
    def read(self, after_seq: int, limit: int) -> list[tuple[int, Transaction]]:
        """Up to `limit` transactions with seq > after_seq, in order."""
        cursor = self.conn.execute(
            "SELECT seq, position, commit_time, origin, events FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            (seq, Transaction.from_payload(events, json.loads(position), commit_time, origin))
            for seq, position, commit_time, origin, events in cursor
        ]

    def read_raw(self, after_seq: int, limit: int) -> list[tuple[int, Position, float, str | bytes]]:
        """Up to `limit` (seq, position, commit_time, payload) with seq > after_seq, payloads as stored."""
        cursor = self.conn.execute(
            "SELECT seq, position, commit_time, events FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [(seq, json.loads(position), commit_time, events) for seq, position, commit_time, events in cursor]

    def last_seq(self) -> int:
        """The highest sequence number ever assigned (0 for an empty log), trimmed or not."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return 0 if row is None else row[0]

    def trim(self, upto_seq: int) -> int:
        """Delete transactions with seq <= upto_seq (all consumers are past them). Returns rows deleted."""
        with _transaction(self.conn):
            return self.conn.execute("DELETE FROM changes WHERE seq <= ?", (upto_seq,)).rowcount

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM changes").fetchone()[0]

    def _set(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
