"""Throttling: token buckets for rows (rps) and bytes (mbps = megabytes per second).

Throttle windows (`throttle.windows`) give other limits during times of day: the
limits in force are `limits_at(throttle, now)`, which `dtsctl status` shows too.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable
from zoneinfo import ZoneInfo

RECHECK_WINDOWS_SECONDS = 1.0


def limits_at(throttle: dict[str, Any], moment: float) -> dict[str, Any]:
    """{"rps", "mbps", "window"} in force at `moment`: those of the first window holding the time
    of day (a limit the window leaves out is the throttle's own), else the throttle's own."""
    rps, mbps = float(throttle.get("rps") or 0), float(throttle.get("mbps") or 0)
    windows = throttle.get("windows") or []
    if windows:
        clock = datetime.datetime.fromtimestamp(moment, ZoneInfo(throttle.get("timezone") or "UTC")).strftime("%H:%M")
        for window in windows:
            if _holds(window["from"], window["to"], clock):
                return {"rps": rps if window.get("rps") is None else float(window["rps"]),
                        "mbps": mbps if window.get("mbps") is None else float(window["mbps"]),
                        "window": f"{window['from']}-{window['to']}"}
    return {"rps": rps, "mbps": mbps, "window": None}


def _holds(start: str, end: str, clock: str) -> bool:
    """Whether HH:MM `clock` is in [start, end); a window whose end is before its start crosses midnight."""
    return start <= clock < end if start < end else clock >= start or clock < end


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

    def __init__(self, rps: float, mbps: float, stop: threading.Event | None = None,
                 windows: Sequence[dict[str, Any]] = (), timezone: str = "UTC",
                 clock: Callable[[], float] = time.time) -> None:
        self.rows = TokenBucket(rps)
        self.bytes = TokenBucket(mbps * 1_000_000)
        self._stop = stop or threading.Event()
        self._throttle = {"rps": rps, "mbps": mbps, "windows": list(windows), "timezone": timezone}
        self._clock = clock
        self._checked_at = float("-inf")

    @property
    def limited(self) -> bool:
        self._follow_windows()
        return self.rows.rate > 0 or self.bytes.rate > 0

    def _follow_windows(self) -> None:
        """Take the limits of the window in force (checked at most every RECHECK_WINDOWS_SECONDS)."""
        now = self._clock()
        if not self._throttle["windows"] or now - self._checked_at < RECHECK_WINDOWS_SECONDS:
            return
        self._checked_at = now
        limits = limits_at(self._throttle, now)
        self.rows.rate, self.bytes.rate = limits["rps"], limits["mbps"] * 1_000_000

    def wait(self, rows: int, size: int) -> None:
        delay = max(self.rows.delay_for(rows), self.bytes.delay_for(size))
        if delay > 0:
            self._stop.wait(delay)
