"""Cron times, run windows, and the run book of a scheduled migration."""

from __future__ import annotations

import datetime
from pathlib import Path

from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.runs import RunBook
from dtsctl.schedule import CronSchedule, with_run_window

UTC = datetime.timezone.utc


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_daily_run_copies_the_day_before_in_its_time_zone() -> None:
    schedule = CronSchedule("0 2 * * *", "Asia/Shanghai")
    [due] = schedule.next_times(at("2026-03-01 12:00:00"))
    assert schedule.clock(due) == "2026-03-02T02:00:00+08:00"
    assert schedule.window_for(due).names() == {"window_start": "2026-03-01 02:00:00",
                                                "window_end": "2026-03-02 02:00:00"}


def test_the_window_replaces_the_placeholders_in_every_filter() -> None:
    attributes = {"objects": [{"database": "main", "filter": {
        "orders": "day >= '${ run.window_start }' AND day < '${ run.window_end }'"}}]}
    window = {"window_start": "2026-03-01 00:00:00", "window_end": "2026-03-02 00:00:00"}
    changed = with_run_window(attributes, window)
    assert changed["objects"][0]["filter"]["orders"] == "day >= '2026-03-01 00:00:00' AND day < '2026-03-02 00:00:00'"
    assert "${ run" in attributes["objects"][0]["filter"]["orders"]  # the original is left alone


def test_runs_never_overlap_and_windows_stay_contiguous(tmp_path: Path) -> None:
    book = RunBook(RuntimePaths(tmp_path).task("task.t"), {"cron": "0 * * * *"})
    now = at("2026-03-01 10:30:00")
    assert book.next_run_at(now) == at("2026-03-01 11:00:00")
    first = book.start(at("2026-03-01 11:00:01"))
    assert (first["window_start"], first["window_end"]) == ("2026-03-01 10:00:00", "2026-03-01 11:00:00")
    reason = book.skip(at("2026-03-01 12:00:00"))
    assert reason == "skipped: the previous run (started at 2026-03-01T11:00:01+00:00) was still going"
    book.finish("completed", 42, None, at("2026-03-01 12:10:00"))
    second = RunBook(RuntimePaths(tmp_path).task("task.t"), {"cron": "0 * * * *"}).start(at("2026-03-01 13:00:00"))
    assert (second["window_start"], second["window_end"]) == ("2026-03-01 11:00:00", "2026-03-01 13:00:00")
    assert book.data["results"]["skipped"] == 1
