"""Scheduled migrations: cron times, each run's window, and the `run.` names filters may read.

A run scheduled at time T copies the window from the schedule's previous time to T
(e.g. `0 2 * * *` copies 02:00 yesterday to 02:00 today); the agent puts that window in
place of the filters' `run.` placeholders when it starts the run (`with_run_window`).

croniter is imported only here, when a schedule is actually read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

RUN_FIELDS = ("window_start", "window_end")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # compares as text and as DATETIME in SQL


def placeholder(name: str) -> str:
    """What `${ run.NAME }` renders to at plan time, kept in the filter until a run starts."""
    return f"${{ run.{name} }}"


RUN_PLACEHOLDERS = tuple(placeholder(name) for name in RUN_FIELDS)


def cron_problem(expression: str) -> str | None:
    """None when `expression` is a valid cron expression, else what is wrong."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(expression):
        return (f"`{expression}` is not a valid cron expression: give 5 fields (minute hour day month weekday) "
                "or 6 with seconds last, e.g. \"0 2 * * *\"")
    return None


@dataclass(frozen=True)
class RunWindow:
    """One run: scheduled at `end`, copying rows of [start, end) in the schedule's time zone."""

    start: datetime.datetime
    end: datetime.datetime

    def names(self) -> dict[str, str]:
        return {"window_start": self.start.strftime(TIME_FORMAT), "window_end": self.end.strftime(TIME_FORMAT)}


class CronSchedule:
    def __init__(self, cron: str, timezone: str = "UTC") -> None:
        self.cron = cron
        self.zone = ZoneInfo(timezone)

    @classmethod
    def from_attributes(cls, schedule: dict[str, Any]) -> "CronSchedule":
        return cls(schedule["cron"], schedule.get("timezone") or "UTC")

    def next_times(self, after: float, count: int = 1) -> list[float]:
        """The next `count` run times (unix seconds) strictly after `after`."""
        from croniter import croniter

        it = croniter(self.cron, datetime.datetime.fromtimestamp(after, self.zone))
        return [it.get_next(datetime.datetime).timestamp() for _ in range(count)]

    def clock(self, moment: float) -> str:
        """A unix time as ISO 8601 in the schedule's time zone."""
        return datetime.datetime.fromtimestamp(moment, self.zone).isoformat(timespec="seconds")

    def window_for(self, scheduled: float) -> RunWindow:
        """The window of the run scheduled at `scheduled`: from the previous run time to it."""
        from croniter import croniter

        end = datetime.datetime.fromtimestamp(scheduled, self.zone)
        start = croniter(self.cron, end).get_prev(datetime.datetime)
        return RunWindow(start, end)


def with_next_window(attributes: dict[str, Any], now: float) -> dict[str, Any]:
    """A scheduled task's attributes as its next run will see them (for prechecks); others as they are."""
    if not attributes.get("schedule"):
        return attributes
    schedule = CronSchedule.from_attributes(attributes["schedule"])
    return with_run_window(attributes, schedule.window_for(schedule.next_times(now)[0]).names())


def with_run_window(attributes: dict[str, Any], window: dict[str, str]) -> dict[str, Any]:
    """The task attributes with this run's window in place of the filters' placeholders."""
    objects = []
    for selection in attributes["objects"]:
        filters = {}
        for table, condition in (selection.get("filter") or {}).items():
            for name in RUN_FIELDS:
                condition = condition.replace(placeholder(name), window[name])
            filters[table] = condition
        objects.append({**selection, "filter": filters})
    return {**attributes, "objects": objects}
