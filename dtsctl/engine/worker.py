"""The helper threads of a run (reader, delivery, heartbeat, status writer): daemon threads
that work until `stop()` sets their `_halt` event."""

from __future__ import annotations

import threading


class Worker(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._halt = threading.Event()

    def stop(self) -> None:
        """Ask the thread to finish; `join` waits for it."""
        self._halt.set()
