"""Throttle windows: which limits hold at a time of day, and a throttle that follows them."""

from __future__ import annotations

import datetime

import pytest

from dtsctl.engine.throttle import Throttle, limits_at

THROTTLE = {"rps": 100.0, "mbps": 0.0, "timezone": "Asia/Shanghai", "windows": [
    {"from": "09:00", "to": "18:00", "rps": 5.0, "mbps": None},
    {"from": "22:00", "to": "06:00", "rps": None, "mbps": 2.0},
]}


def shanghai(clock: str) -> float:
    zone = datetime.timezone(datetime.timedelta(hours=8))
    return datetime.datetime.fromisoformat(f"2026-03-02T{clock}:00").replace(tzinfo=zone).timestamp()


@pytest.mark.parametrize(("clock", "expected"), [
    ("08:59", {"rps": 100.0, "mbps": 0.0, "window": None}),
    ("09:00", {"rps": 5.0, "mbps": 0.0, "window": "09:00-18:00"}),
    ("17:59", {"rps": 5.0, "mbps": 0.0, "window": "09:00-18:00"}),
    ("18:00", {"rps": 100.0, "mbps": 0.0, "window": None}),
    ("23:30", {"rps": 100.0, "mbps": 2.0, "window": "22:00-06:00"}),  # crosses midnight
    ("05:59", {"rps": 100.0, "mbps": 2.0, "window": "22:00-06:00"}),
])
def test_the_window_holding_the_time_of_day_sets_the_limits(clock: str, expected: dict) -> None:
    assert limits_at(THROTTLE, shanghai(clock)) == expected


def test_a_throttle_follows_the_windows_as_the_clock_moves() -> None:
    now = [shanghai("08:59")]
    throttle = Throttle(100.0, 0.0, None, THROTTLE["windows"], "Asia/Shanghai", clock=lambda: now[0])
    assert throttle.limited and throttle.rows.rate == 100.0
    now[0] = shanghai("09:00")
    assert throttle.limited and throttle.rows.rate == 5.0
    now[0] = shanghai("18:30")
    assert throttle.rows.rate == 5.0  # not rechecked until asked
    assert throttle.limited and throttle.rows.rate == 100.0


def test_no_windows_means_the_plain_limits() -> None:
    assert limits_at({"rps": 0, "mbps": 0}, 0.0) == {"rps": 0.0, "mbps": 0.0, "window": None}
    assert not Throttle(0, 0).limited
