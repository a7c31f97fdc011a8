"""The retry window for connection failures (`retry.connection_minutes`)."""

from __future__ import annotations

import time
from typing import Callable


class RetryWindow:
    """Tracks how long an endpoint has been failing without progress in between.

    `failed()` returns the seconds to back off, or None when the window is spent.
    `succeeded()` (called on any committed progress) closes the failure streak.
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic,
                 first_backoff: float = 0.5, max_backoff: float = 10.0) -> None:
        self.seconds = minutes * 60
        self._clock = clock
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._since: float | None = None
        self._backoff = first_backoff

    def succeeded(self) -> None:
        self._since = None
        self._backoff = self._first_backoff

    def failed(self) -> float | None:
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._since >= self.seconds:
            return None
        delay = min(self._backoff, self._max_backoff, self.seconds - (now - self._since))
        self._backoff = min(self._backoff * 2, self._max_backoff)
        return delay

    @property
    def failing_for(self) -> float:
        return 0.0 if self._since is None else self._clock() - self._since
