"""The consumer API: read a subscription task's records as one member of a consumer group.

    with Subscriber("path/to/workspace", "orders_cdc", "cache") as subscriber:
        for record in subscriber:
            handle(record)
            record.commit()

Several processes may open the same group: one holds the group's lease and
reads, the others wait; when the holder closes, dies or stalls past the lease,
another takes over from the last committed offset. Delivery is at-least-once:
records after the committed offset are read again by whoever reads next.
"""

from __future__ import annotations

import collections
import datetime
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Iterator, Literal, Union

from dtsctl.engine.subscription.stores import open_store
from dtsctl.subscribe import leases, offsets
from dtsctl.subscribe.errors import LeaseLost, ReadOnly
from dtsctl.subscribe.locate import locate_store
from dtsctl.subscribe.record import Record

log = logging.getLogger(__name__)

Start = Union[Literal["committed", "earliest", "latest"], datetime.datetime, float]

DEFAULT_LEASE_SECONDS = 5.0
POLL_SECONDS = 0.1
BATCH = 200


class Subscriber:
    """One consumer of group `group` of subscription task `task`.

    `start`: "committed" (the group's offset), "earliest" (oldest retained record),
    "latest" (only what comes next), or a time (datetime, or unix seconds): every
    transaction committed at or after it. A start other than "committed" applies
    when this consumer first becomes active; the offset moves only when it commits.
    `exclusive=False` reads without the lease and cannot commit (a peek).
    """

    def __init__(self, workspace_or_path: str | Path, task: str | None, group: str, *,
                 start: Start = "committed", exclusive: bool = True, consumer: str | None = None,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.store = open_store(locate_store(workspace_or_path, task), create=False)
        self.group = group
        self.exclusive = exclusive
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        try:
            offsets.committed(self.store, group)  # the group must be declared
        except BaseException:
            self.store.close()
            raise
        self._seek = self._resolve(start)
        self._lease: leases.Lease | None = None
        self._renewed_at = 0.0
        self._position: int | None = None
        self._buffer: collections.deque[tuple[int, str]] = collections.deque()
        self._waiting_logged = False

    # -- reading --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Record]:
        """Records forever, waiting for new ones (and for the lease) as needed."""
        while True:
            record = self.next_record()
            if record is not None:
                yield record

    def next_record(self, timeout: float | None = None) -> Record | None:
        """The next record, or None when none came within `timeout` seconds (None: wait for one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._activate():
                assert self._position is not None
                if not self._buffer:
                    self._buffer.extend(self.store.read(self._position, BATCH))
                if self._buffer:
                    seq, body = self._buffer.popleft()
                    self._position = seq
                    return Record.parse(body, self.commit)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            time.sleep(POLL_SECONDS if remaining is None else min(POLL_SECONDS, remaining))

    def poll(self, max_records: int = BATCH, timeout: float = 1.0) -> list[Record]:
        """Up to `max_records` records: waits up to `timeout` for the first, then takes what is there."""
        first = self.next_record(timeout)
        if first is None:
            return []
        records = [first]
        while len(records) < max_records:
            record = self.next_record(0)
            if record is None:
                break
            records.append(record)
        return records

    # -- committing -----------------------------------------------------------------
    def commit(self, seq: int | None = None) -> None:
        """Store `seq` (default: the last record returned) as the group's committed offset.

        Raises LeaseLost when another consumer took the group over meanwhile; this
        consumer then waits for the lease again and resumes from the committed offset."""
        if not self.exclusive:
            raise ReadOnly("this subscriber reads without the group's lease (exclusive=False) and cannot commit")
        if seq is None:
            seq = self._position
        if seq is None:
            return
        if self._lease is None:
            raise LeaseLost(f"consumer {self.consumer} does not hold the lease of group {self.group}")
        try:
            offsets.commit(self.store, self.group, seq, self._lease, self.lease_seconds)
        except LeaseLost:
            self._lost()
            raise
        self._renewed_at = time.monotonic()

    @property
    def active(self) -> bool:
        """Whether this consumer holds the group's lease (as of its last renewal)."""
        return self._lease is not None

    @property
    def position(self) -> int | None:
        """The seq of the last record returned."""
        return self._position

    def close(self) -> None:
        """Give the lease up (another consumer takes over at once) and close the store."""
        if self._lease is not None:
            leases.release(self.store, self._lease)
            self._lease = None
        self.store.close()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the lease ------------------------------------------------------------------
    def _activate(self) -> bool:
        """Whether this consumer may read now: it holds the lease (renewing it when due) or takes it."""
        if not self.exclusive:
            if self._position is None:
                self._position = self._start_position()
            return True
        if self._lease is not None:
            if time.monotonic() - self._renewed_at < self.lease_seconds / 3:
                return True
            if leases.renew(self.store, self._lease, self.lease_seconds, time.time()):
                self._renewed_at = time.monotonic()
                return True
            log.warning("consumer %s lost the lease of group %s to another consumer", self.consumer, self.group)
            self._lost()
        lease = leases.acquire(self.store, self.group, self.consumer, self.lease_seconds, time.time())
        if lease is None:
            self._log_waiting()
            return False
        self._lease, self._renewed_at, self._waiting_logged = lease, time.monotonic(), False
        self._position = self._start_position()
        log.info("consumer %s is active for group %s from seq %d", self.consumer, self.group, self._position)
        return True

    def _start_position(self) -> int:
        """The seek asked for at construction (first activation only), else the committed offset."""
        if self._seek is not None:
            position, self._seek = self._seek, None
            return position
        return offsets.committed(self.store, self.group)

    def _lost(self) -> None:
        self._lease = None
        self._buffer.clear()

    def _log_waiting(self) -> None:
        if not self._waiting_logged:
            holder = leases.current(self.store, self.group)
            log.info("consumer %s waits: group %s is read by %s", self.consumer, self.group,
                     holder.holder if holder else "another consumer")
            self._waiting_logged = True

    def _resolve(self, start: Start) -> int | None:
        """The position a start asks for; None for the committed offset."""
        if start == "committed":
            return None
        if start == "earliest":
            return self.store.trimmed_upto()
        if start == "latest":
            return self.store.last_seq()
        if isinstance(start, datetime.datetime):
            if start.tzinfo is None:
                start = start.astimezone()
            return self.store.position_at(start.timestamp())
        if isinstance(start, (int, float)):
            return self.store.position_at(float(start))
        raise ValueError(f"start must be committed, earliest, latest, a datetime or unix seconds, not {start!r}")
