"""The agent's live status, shared between its threads and written to status.json."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from dtsctl.engine.checkpoint import Checkpoint

RATE_WINDOW_SECONDS = 10.0


class Rate:
    """Events per second over the last RATE_WINDOW_SECONDS, from samples of a running total."""

    def __init__(self) -> None:
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def per_second(self, total: int, now: float) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_SECONDS:
            self._samples.popleft()
        first_time, first_total = self._samples[0]
        return round((total - first_total) / (now - first_time), 1) if now > first_time else 0.0


class Progress:
    """Thread-safe status; `snapshot()` returns the status.json document (STATUS_KEYS)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self.state = "running"
        self.phase = "precheck"
        self.last_error: str | None = None
        self.position = ""
        self.newest_seen: float | None = None  # source commit time of the newest change in the change log
        self.caught_up = True
        self.events_read = 0  # change events the reader appended since this agent started
        self.reader_pid: int | None = None  # the reader process, while it runs
        self.reader_position: str | None = None  # where the reader stands in the source
        self.applier_position: str | None = None  # the source position the applier has applied up to
        self._checkpoint = Checkpoint()
        self._read_rate, self._applied_rate = Rate(), Rate()

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
        self._changed.set()

    def set_state(self, state: str, error: str | None = None) -> None:
        with self._lock:
            self.state = state
            if error is not None:
                self.last_error = error
        self._changed.set()

    def set_error(self, error: str | None) -> None:
        with self._lock:
            self.last_error = error

    def committed(self, checkpoint: Checkpoint, caught_up: bool | None = None) -> None:
        """The applier committed `checkpoint` (copied so later mutation does not leak in)."""
        with self._lock:
            self._checkpoint = checkpoint.copy()
            if caught_up is not None:
                self.caught_up = caught_up

    def reader_advanced(self, position: str | None, newest_commit_time: float | None, events: int = 0,
                        reader_position: str | None = None) -> None:
        """The source position to show as the checkpoint (None: unchanged), the commit time of the
        newest change in the change log, how many change events the reader just appended, and
        the reader's own position (None: unchanged)."""
        with self._lock:
            if position is not None:
                self.position = position
            if reader_position is not None:
                self.reader_position = reader_position
            self.events_read += events
            if newest_commit_time is not None:
                self.newest_seen = newest_commit_time

    def reader_started(self, pid: int | None) -> None:
        """The reader process now running (None: none runs)."""
        with self._lock:
            self.reader_pid = pid

    def applier_advanced(self, position: str | None) -> None:
        """The source position after the last change the applier committed (None: unchanged)."""
        if position is not None:
            with self._lock:
                self.applier_position = position

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until a phase or state change, or `timeout`."""
        self._changed.wait(timeout)
        self._changed.clear()

    def lag_seconds(self) -> float | None:
        """Commit time of the newest change seen minus that of the newest applied; None before incremental."""
        with self._lock:
            return self._lag()

    def _lag(self) -> float | None:
        if self.phase not in ("incremental",):
            return None
        if not self.position:
            # No checkpoint to show yet: a destination of a shared log that joined it empty stands
            # nowhere until it applies its first change, which another agent may have appended
            # while this one still counts itself caught up.
            return None
        applied = self._checkpoint.applied_commit_time
        if self.caught_up or self.newest_seen is None:
            return 0.0
        if applied is None:
            return None  # behind, by how much is known once a first change is applied
        return round(max(0.0, self.newest_seen - applied), 3)

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cp = self._checkpoint
            return {
                "state": self.state,
                "phase": self.phase,
                "lag_seconds": self._lag(),
                "rows_copied": cp.rows_copied,
                "events_applied": cp.events_applied,
                "events_read": self.events_read,
                "last_error": self.last_error,
                "checkpoint": self.position or None,
                "tables": {
                    name: {"rows_copied": tp.rows_copied, "rows_estimated": tp.rows_estimated, "done": tp.copy_done}
                    for name, tp in cp.tables.items()
                },
                "conflicts": cp.conflicts.as_dict(),
                "reader": {"pid": self.reader_pid, "position": self.reader_position,
                           "events_per_second": self._read_rate.per_second(self.events_read, now)},
                "applier": {"position": self.applier_position,
                            "events_per_second": self._applied_rate.per_second(cp.events_applied, now)},
                "updated_at": time.time(),
            }
