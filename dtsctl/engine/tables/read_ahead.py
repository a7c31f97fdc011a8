"""The applier's next batch, read from the change log on a thread of its own while the destination
applies the current one.

An applier's time is its own (reading and decoding records, CPU in this process) and the
destination's (applying them, which this process only waits for). Done one after the other they
add up, and during a catch-up of a MySQL source the two together set the pace; with the next
batch read meanwhile they overlap. The thread has its own connection to the change log (WAL:
readers do not block each other). A read whose result does not follow what was applied, or
that failed, is dropped and the batch is read again on the applier's thread, so an error is met
where it is handled.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Transaction

Batch = list[tuple[int, Transaction]]


class BatchReadAhead:
    def __init__(self, path: Path, read: Callable[[ChangeLog, int], Batch]) -> None:
        """`read(log, after_seq)`: the batch after `after_seq`, as the applier reads it."""
        self._path = path
        self._read = read
        self._requests: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._pending: int | None = None  # the seq the read under way follows
        self._thread: threading.Thread | None = None

    def start(self, after_seq: int) -> None:
        """Begin reading the batch after `after_seq` (unless a read is under way)."""
        if self._pending is not None:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)
            self._thread.start()
        self._pending = after_seq
        self._requests.put(after_seq)

    def take(self, after_seq: int) -> Batch | None:
        """The batch read after `after_seq` (waiting for it); None when no read of it was started,
        or it failed."""
        if self._pending is None:
            return None
        started, self._pending = self._pending, None
        batch = self._results.get()
        return batch if started == after_seq else None

    def close(self) -> None:
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        log = ChangeLog(self._path)
        try:
            while (after_seq := self._requests.get()) is not None:
                try:
                    self._results.put(self._read(log, after_seq))
                except Exception:  # read again on the applier's thread, which handles it
                    self._results.put(None)
        finally:
            log.close()
