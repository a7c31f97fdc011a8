"""Status for key-value tasks: lag measured with the source heartbeat, and full resyncs."""

from __future__ import annotations

import time
from typing import Any

from dtsctl.engine.progress import Progress

HEARTBEAT_EVERY_SECONDS = 1.0


class KeyspaceProgress(Progress):
    """Lag = how far the stream is behind the source (heartbeat age beyond one beat) plus how far
    the applier is behind the stream. Unknown (None) when the heartbeat cannot be written
    (read-only source) or has not come back yet."""

    def __init__(self) -> None:
        super().__init__()
        self.heartbeat_writable: bool | None = None
        self.heartbeat_seen: float | None = None  # source time in the newest heartbeat read back
        self.resyncs = 0
        self.resync_reason: str | None = None

    def heartbeat_written(self, ok: bool) -> None:
        with self._lock:
            self.heartbeat_writable = ok

    def heartbeat_read(self, source_time: float | None) -> None:
        if source_time is not None:
            with self._lock:
                self.heartbeat_seen = source_time

    def resynced(self, reason: str) -> None:
        with self._lock:
            self.resyncs += 1
            self.resync_reason = reason
        self._changed.set()

    def _lag(self) -> float | None:
        applier = super()._lag()
        if applier is None or not self.heartbeat_writable or self.heartbeat_seen is None:
            return None
        stream = max(0.0, time.time() - self.heartbeat_seen - HEARTBEAT_EVERY_SECONDS)
        return round(stream + applier, 3)

    def snapshot(self) -> dict[str, Any]:
        status = super().snapshot()
        with self._lock:
            status["full_resyncs"] = self.resyncs
            status["full_resync_reason"] = self.resync_reason
            status["heartbeat_writable"] = self.heartbeat_writable
            status["expired_on_destination"] = self._checkpoint.expired_on_destination
        return status
