"""Delivery: copy retained records, in order, to an external stream (`deliver_to`).

It runs beside the recorder in its own thread so an unreachable target never
stops recording; it retries with backoff and reports the error in the status.
Its cursor is stored in the store (retention's age bound does not pass it) and
checked against the target's last entry on start, so nothing is added twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Protocol, Sequence

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.progress import Progress
from dtsctl.engine.subscription.store import SubscriptionStore
from dtsctl.engine.worker import Worker

log = logging.getLogger(__name__)

CURSOR = "delivery"  # store meta: {"target": name, "seq": last delivered}
BATCH = 500
IDLE_SECONDS = 0.1
BACKOFF_SECONDS = (0.5, 1, 2, 5, 10, 30)


class StreamTarget(Protocol):
    """A stream on the `deliver_to` endpoint; its engine's connector provides it (EngineSpec.stream_target)."""

    name: str

    def last_seq(self) -> int: ...

    def add(self, records: Sequence[tuple[int, str, str, str]]) -> None: ...

    def close(self) -> None: ...


def delivery_cursor(store: SubscriptionStore) -> int | None:
    """The last delivered seq, or None when the task delivers nowhere yet."""
    cursor = store.get(CURSOR)
    return None if cursor is None else int(cursor["seq"])


class Delivery(Worker):
    def __init__(self, store_path: Path, make_target: Callable[[], StreamTarget], progress: Progress) -> None:
        super().__init__("delivery")
        self._store_path = store_path
        self._make_target = make_target
        self._progress = progress


    def run(self) -> None:
        failures = 0
        while not self._halt.is_set():
            try:
                self._deliver()
                return
            except ConnectionFailure as exc:
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                self._progress.set_error(f"delivery: {exc}")
                log.warning("delivery: %s; retrying in %gs", exc, delay)
                self._halt.wait(delay)

    def _deliver(self) -> None:
        store = SubscriptionStore(self._store_path)
        target = self._make_target()
        try:
            cursor = self._start(store, target)
            while not self._halt.is_set():
                batch = store.read(cursor, BATCH)
                if not batch:
                    self._halt.wait(IDLE_SECONDS)
                    continue
                target.add([_entry(seq, body) for seq, body in batch])
                cursor = batch[-1][0]
                with store.transaction():
                    store.set(CURSOR, {"target": target.name, "seq": cursor})
                self._progress.set_error(None)
        finally:
            target.close()
            store.close()

    @staticmethod
    def _start(store: SubscriptionStore, target: StreamTarget) -> int:
        """Where delivery resumes: its cursor for this target (or, for a new target, the oldest
        retained record), never before what the target already holds."""
        saved = store.get(CURSOR)
        cursor = int(saved["seq"]) if saved and saved["target"] == target.name else store.trimmed_upto()
        cursor = max(cursor, target.last_seq())
        with store.transaction():
            store.set(CURSOR, {"target": target.name, "seq": cursor})
        log.info("delivering records after seq %d to %s", cursor, target.name)
        return cursor


def _entry(seq: int, body: str) -> tuple[int, str, str, str]:
    record = json.loads(body)
    return seq, record["op"], record["object"] or "", body
