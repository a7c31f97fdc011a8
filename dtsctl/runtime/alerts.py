"""Task alerts without a monitoring stack: when an alert fires and resolves.

The supervisor feeds `AlertTracker.observe` each task's state and lag on every pass;
it returns the events to post (see `webhook.py`). Lag fires once it has been over
`lag_seconds` for `for_seconds`; failure fires when the task is failed. Each
resolves when its condition is gone. What is firing is kept in memory: a restarted
supervisor fires an alert that is still true once more.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from dtsctl.runtime.agents import TaskView


def iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Condition:
    since: float | None = None  # when the condition became true (None: it is not)
    firing: bool = False
    value: Any = None


@dataclass
class AlertTracker:
    """One task's alerts; `alerts` is the task's `alerts` attribute."""

    address: str
    alerts: dict[str, Any]
    _conditions: dict[str, _Condition] = field(default_factory=dict)

    def observe(self, view: TaskView, now: float) -> list[dict[str, Any]]:
        events = []
        lag = view.as_contract()["lag_seconds"] if view.state == "running" else None
        threshold = self.alerts.get("lag_seconds")
        if threshold is not None:
            over = lag is not None and lag > threshold
            events += self._update("lag", over, lag, threshold, float(self.alerts.get("for_seconds") or 0), now)
        if self.alerts.get("on_failure", True):
            events += self._update("failure", view.state == "failed", view.last_error, None, 0.0, now)
        return events

    def _update(self, kind: str, holds: bool, value: Any, threshold: float | None, wait: float,
                now: float) -> list[dict[str, Any]]:
        condition = self._conditions.setdefault(kind, _Condition())
        if holds:
            condition.value = value
            if condition.since is None:
                condition.since = now
            if not condition.firing and now - condition.since >= wait:
                condition.firing = True
                return [self._event(kind, condition, threshold, None)]
            return []
        event = [self._event(kind, condition, threshold, now)] if condition.firing else []
        self._conditions[kind] = _Condition()
        return event

    def _event(self, kind: str, condition: _Condition, threshold: float | None, resolved: float | None) -> dict[str, Any]:
        assert condition.since is not None
        if kind == "lag":
            message = (f"{self.address}: lag {condition.value}s is over {threshold:g}s" if resolved is None
                       else f"{self.address}: lag is back under {threshold:g}s")
        else:
            message = (f"{self.address} failed: {condition.value}" if resolved is None
                       else f"{self.address} is no longer failed")
        return {
            "task": self.address,
            "kind": kind,
            "status": "firing" if resolved is None else "resolved",
            "value": condition.value,
            "threshold": threshold,
            "first_seen": iso(condition.since),
            "resolved": iso(resolved) if resolved is not None else None,
            "message": message,
        }
