"""Throttling: token buckets for rows (rps) and bytes (mbps = megabytes per second)."""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """`rate` tokens per second, bursting up to one second's worth; rate 0 means unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._stamp = clock()

    def delay_for(self, amount: float) -> float:
        """Take `amount` tokens; return how long to wait before proceeding (0 when allowed now)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class Throttle:
    """Limits rows and bytes per second; `wait` sleeps (interruptibly) as needed."""

    def __init__(self, rps: float, mbps: float, stop: threading.Event | None = None) -> None:
        self.rows = TokenBucket(rps)
        self.bytes = TokenBucket(mbps * 1_000_000)
        self._stop = stop or threading.Event()

    @property
    def limited(self) -> bool:
        return self.rows.rate > 0 or self.bytes.rate > 0

    def wait(self, rows: int, size: int) -> None:
        delay = max(self.rows.delay_for(rows), self.bytes.delay_for(size))
        if delay > 0:
            self._stop.wait(delay)
