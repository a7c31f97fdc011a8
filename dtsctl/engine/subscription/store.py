"""The task's store: retained records, consumer groups' offsets and leases, in one SQLite file.

Record sequence numbers are assigned here, explicitly, inside the write
transaction that inserts them (`last_seq` + 1, ...): one record per row change
plus `begin`/`commit` around each source transaction, so a seq is stable, unique
in the stream, dense, and never reused after trimming. The recorder commits the
change-log seq it consumed (`source_seq`) in the same transaction, so a crash
can neither lose nor duplicate a record.

Offsets, leases and records share the file so trimming can read every group's
offset in the transaction that deletes records. Every process opens its own
`SubscriptionStore`; SQLite's WAL and BEGIN IMMEDIATE make that safe.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from dtsctl.engine import log_database
from dtsctl.engine.subscription.envelope import Envelope, gap_record, iso_time
from dtsctl.errors import DtsError

STORE_FILE = "subscription.db"
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    xid INTEGER,
    commit_time REAL NOT NULL,
    recorded_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_commit_time ON records (commit_time);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    committed_seq INTEGER NOT NULL,
    committed_at REAL,
    gap TEXT
);
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreMissing(DtsError):
    """The task has no store: not a subscription task, or not applied yet."""


@dataclass(frozen=True)
class Retained:
    """What the store holds now."""

    first_seq: int | None
    last_seq: int  # highest seq ever assigned (0: none yet)
    records: int
    bytes: int
    oldest: float | None  # commit time of the first retained record
    newest: float | None
    trimmed_upto: int  # every seq <= this was trimmed


@dataclass(frozen=True)
class Group:
    name: str
    committed_seq: int
    committed_at: float | None
    gap: dict[str, Any] | None  # the last records the size bound took before this group read them
    # the lease of the group's active consumer (dtsctl.subscribe.leases); token 0: never held
    holder: str | None = None
    token: int = 0
    expires_at: float = 0.0


class SubscriptionStore:
    keeps_change_log = True  # the change log sits next to the store: a restart continues from it

    def __init__(self, path: Path, create: bool = True) -> None:
        if not create and not path.exists():
            raise StoreMissing(f"no change stream at {path}")
        self.path = path
        self.conn = log_database.connect(path, BUSY_TIMEOUT_SECONDS)
        if create:
            self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def drop(self) -> None:
        """Nothing to do: the store goes with the task's directory."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT: one writer at a time across processes; rolled back on error.
        Inside a transaction already, it is part of that one."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta -----------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # -- records --------------------------------------------------------------------
    def last_seq(self) -> int:
        return int(self.get("last_seq", 0))

    def trimmed_upto(self) -> int:
        return int(self.get("trimmed_upto", 0))

    def next_seq(self) -> int:
        """The seq the next record gets."""
        return self.last_seq() + 1

    def insert(self, records: Sequence[Envelope], now: float) -> None:
        """Insert records numbered from last_seq + 1 (call inside `transaction`)."""
        expected = self.last_seq() + 1
        rows = []
        for offset, record in enumerate(records):
            if record["seq"] != expected + offset:
                raise ValueError(f"record seq {record['seq']} out of order; expected {expected + offset}")
            body = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            rows.append((record["seq"], record["op"], record["xid"], record["commit_ts"], now,
                         len(body.encode()), body))
        self.conn.executemany(
            "INSERT INTO records (seq, op, xid, commit_time, recorded_at, size, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if rows:
            self.set("last_seq", rows[-1][0])
            self.set("bytes", int(self.get("bytes", 0)) + sum(row[5] for row in rows))

    def read(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (seq, JSON body) after `after`, led by a `gap` record when the size bound
        trimmed records after `after` (its seq is the last one lost)."""
        with self.snapshot():
            trimmed = self.trimmed_upto()
            if after < trimmed:
                gap = gap_record(after + 1, trimmed, time.time())
                return [(trimmed, json.dumps(gap, separators=(",", ":")))]
            return self.conn.execute(
                "SELECT seq, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A consistent read across several statements."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def retained(self) -> Retained:
        with self.snapshot():
            first, count, oldest = self.conn.execute(
                "SELECT min(seq), count(*), (SELECT commit_time FROM records ORDER BY seq LIMIT 1) FROM records"
            ).fetchone()
            newest = self.conn.execute("SELECT commit_time FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            return Retained(first, self.last_seq(), count, int(self.get("bytes", 0)), oldest,
                            newest[0] if newest else None, self.trimmed_upto())

    def commit_time_of(self, seq: int) -> float | None:
        row = self.conn.execute("SELECT commit_time FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else row[0]

    def position_at(self, ts: float) -> int:
        """The position (last seq before) from which a reader sees every transaction committed at or
        after `ts`, from its `begin` (a whole-second commit time counting for its whole second).
        Raises PositionTrimmed when records that old were trimmed."""
        with self.snapshot():
            retained_from = self.trimmed_upto()
            oldest = self.conn.execute("SELECT commit_time FROM records ORDER BY seq LIMIT 1").fetchone()
            if retained_from and (oldest is None or ts < oldest[0]):
                since = f"is from {iso_time(oldest[0])}" if oldest else "does not exist (all records were trimmed)"
                raise PositionTrimmed(
                    f"records from {iso_time(ts)} are no longer retained: the oldest retained record {since}; "
                    "ask for a later time, start from the earliest record, or raise `retention`"
                )
            # A whole-second commit time (a MySQL binlog timestamp) stands for its whole second: a
            # transaction committed at 10:00:00.7 is recorded at 10:00:00 and must not be missed by a
            # reader asking from 10:00:00.5 (at-least-once: rather a few records too many).
            row = self.conn.execute(
                "SELECT seq, xid FROM records WHERE commit_time >= ? OR commit_time = ? ORDER BY seq LIMIT 1",
                (ts, float(math.floor(ts))),
            ).fetchone()
            if row is None:
                return self.last_seq()
            seq, xid = row
            return max((xid if xid is not None else seq) - 1, retained_from)

    # -- retention ------------------------------------------------------------------
    def scan(self, after: int, limit: int) -> list[tuple[int, float, int]]:
        """(seq, stored at, size) of up to `limit` records after `after`."""
        return self.conn.execute(
            "SELECT seq, recorded_at, size FROM records WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()

    def trim(self, upto: int, freed: int) -> int:
        """Delete the records up to `upto` (call inside `transaction`); returns the last seq trimmed."""
        self.conn.execute("DELETE FROM records WHERE seq <= ?", (upto,))
        self.set("bytes", int(self.get("bytes", 0)) - freed)
        self.set("trimmed_upto", upto)
        return upto

    # -- groups ---------------------------------------------------------------------
    def groups(self) -> list[Group]:
        rows = self.conn.execute(
            "SELECT name, committed_seq, committed_at, gap, holder, token, expires_at FROM groups "
            "LEFT JOIN leases ON grp = name ORDER BY name")
        return [Group(name, seq, at, json.loads(gap) if gap else None, holder or None, token or 0, expires_at or 0.0)
                for name, seq, at, gap, holder, token, expires_at in rows]

    def group(self, name: str) -> Group | None:
        return next((group for group in self.groups() if group.name == name), None)

    def sync_groups(self, declared: dict[str, str]) -> None:
        """Make the groups exactly `declared` (name -> "latest" | "earliest", where a new one starts).
        A removed group's offset and lease are deleted."""
        with self.transaction():
            existing = {name for (name,) in self.conn.execute("SELECT name FROM groups")}
            for name in existing - set(declared):
                self.conn.execute("DELETE FROM groups WHERE name = ?", (name,))
                self.conn.execute("DELETE FROM leases WHERE grp = ?", (name,))
            for name in set(declared) - existing:
                start = self.last_seq() if declared[name] == "latest" else self.trimmed_upto()
                self.conn.execute("INSERT INTO groups (name, committed_seq) VALUES (?, ?)", (name, start))

    def update_group(self, name: str, change: Callable[[Group], Group]) -> Group | None:
        """Apply `change` to the group atomically; returns what is stored now, or None when the group
        is not declared."""
        with self.transaction():
            group = self.group(name)
            if group is None:
                return None
            changed = change(group)
            if changed == group:
                return group
            gap = json.dumps(changed.gap) if changed.gap else None
            self.conn.execute("UPDATE groups SET committed_seq = ?, committed_at = ?, gap = ? WHERE name = ?",
                              (changed.committed_seq, changed.committed_at, gap, name))
            self.conn.execute(
                "INSERT INTO leases (grp, holder, token, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(grp) DO UPDATE "
                "SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at",
                (name, changed.holder or "", changed.token, changed.expires_at))
            return changed


class PositionTrimmed(DtsError):
    """A start position older than what retention kept."""
