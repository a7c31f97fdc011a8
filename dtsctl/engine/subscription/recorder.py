"""The recorder: change-log transactions -> retained records in the store (the subscription's applier)."""

from __future__ import annotations

import time

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Transaction
from dtsctl.engine.subscription.envelope import heartbeat_record, transaction_records
from dtsctl.engine.subscription.stores import RecordStore

MAX_TRANSACTIONS_PER_BATCH = 200

# store meta keys
SOURCE_SEQ = "source_seq"  # last change-log seq recorded
EVENTS = "events"  # row and DDL records recorded, lifetime
NEWEST_COMMIT_TIME = "newest_commit_time"


class Recorder:
    def __init__(self, store: RecordStore, changelog: ChangeLog) -> None:
        self.store = store
        self.changelog = changelog

    @property
    def source_seq(self) -> int:
        return int(self.store.get(SOURCE_SEQ, 0))

    def phase(self) -> str:
        """The task's phase as the records stand: every write from now on is recorded."""
        return "incremental"

    def record_next(self) -> int:
        """Record the next change-log transactions with the change-log seq they reach, atomically.
        Returns how many transactions were recorded (0: nothing new)."""
        batch = self._read(self.source_seq, MAX_TRANSACTIONS_PER_BATCH)
        if not batch:
            return 0
        now = time.time()
        with self.store.transaction():
            records = []
            first = self.store.next_seq()
            for _, tx in batch:
                records.extend(transaction_records(tx, first + len(records)))
            self.store.insert(records, now)
            self.store.set(SOURCE_SEQ, batch[-1][0])
            events = sum(1 for record in records if record["op"] not in ("begin", "commit"))
            self.store.set(EVENTS, int(self.store.get(EVENTS, 0)) + events)
            newest = max(tx.commit_time for _, tx in batch)
            self.store.set(NEWEST_COMMIT_TIME, max(newest, self.store.get(NEWEST_COMMIT_TIME) or newest))
        return len(batch)

    def _read(self, after_seq: int, limit: int) -> list[tuple[int, Transaction]]:
        """The change-log transactions after `after_seq` (a pipeline whose log holds its own records
        turns them into transactions here)."""
        return self.changelog.read(after_seq, limit)

    def heartbeat(self) -> None:
        """A `heartbeat` record: the source was read up to the reader's position, with nothing new.

        None when the reader appended a transaction that is not recorded yet: the position would be
        past it, and a replicated store resumes a new owner from a heartbeat's position. (The position
        is read first: the reader appends and moves it in one transaction.)"""
        _, position = self.changelog.reader_position()
        if self.changelog.last_seq() > self.source_seq:
            return
        now = time.time()
        with self.store.transaction():
            self.store.insert([heartbeat_record(self.store.next_seq(), now, position)], now)

    def release_changelog(self) -> None:
        """Drop change-log transactions that are recorded (the store holds them now)."""
        self.changelog.trim(self.source_seq)
