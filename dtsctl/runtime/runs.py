"""The runs of a scheduled migration: when the next starts, what each did, and which were skipped.

The supervisor owns `runs.json` in the task's folder and writes `run.json` (the run the
agent must carry out: its id and window) before it starts the agent for a run:

    runs.json  {"next_run_at": unix time, "current": run | null, "history": [run, ...] (newest last),
                "results": {"completed": n, "failed": n, "skipped": n, "stopped": n},
                "covered_until": window_end of the last completed run (the next window starts there)}
    run        {"id", "scheduled_at", "window_start", "window_end", "started_at", "ended_at",
                "rows", "result", "reason"}
"""

from __future__ import annotations

import uuid
from typing import Any

from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.layout import TaskPaths
from dtsctl.schedule import CronSchedule

HISTORY = 20  # finished runs kept in runs.json
RESULTS = ("completed", "failed", "skipped", "stopped")


class RunBook:
    def __init__(self, paths: TaskPaths, schedule: dict[str, Any]) -> None:
        self.paths = paths
        self.schedule = CronSchedule.from_attributes(schedule)
        self.data: dict[str, Any] = read_json(paths.runs, None) or {
            "next_run_at": None, "current": None, "history": [], "results": dict.fromkeys(RESULTS, 0)}

    @property
    def current(self) -> dict[str, Any] | None:
        return self.data["current"]

    def next_run_at(self, now: float) -> float:
        """When the next run is due (the first time after the task was set up, then each time after)."""
        if self.data["next_run_at"] is None:
            self.data["next_run_at"] = self.schedule.next_times(now)[0]
            self.save()
        return float(self.data["next_run_at"])

    def start(self, now: float) -> dict[str, Any]:
        """Open the run that is due; the caller starts the agent."""
        scheduled = self.next_run_at(now)
        window = self.schedule.window_for(scheduled).names()
        # windows stay contiguous: a run also covers what skipped, failed or stopped runs did not
        window["window_start"] = self.data.get("covered_until") or window["window_start"]
        run = {"id": uuid.uuid4().hex, "scheduled_at": scheduled, **window, "started_at": now,
               "ended_at": None, "rows": 0, "result": None, "reason": None}
        self.data["current"] = run
        self._advance(now)
        write_json_atomic(self.paths.run, {"id": run["id"], "window": window})
        return run

    def skip(self, now: float) -> str:
        """The run that is due cannot start: the previous one is still going."""
        scheduled = self.next_run_at(now)
        current = self.current or {}
        reason = f"skipped: the previous run (started at {self.schedule.clock(current['started_at'])}) was still going"
        self._record({"id": None, "scheduled_at": scheduled, **self.schedule.window_for(scheduled).names(),
                      "started_at": None, "ended_at": now, "rows": 0, "result": "skipped", "reason": reason})
        self._advance(now)
        return reason

    def finish(self, result: str, rows: int, reason: str | None, now: float) -> None:
        run = self.current
        assert run is not None
        run.update(ended_at=now, rows=rows, result=result, reason=reason)
        self.data["current"] = None
        if result == "completed":
            self.data["covered_until"] = run["window_end"]
        self._record(run)

    def summary(self, now: float) -> dict[str, Any]:
        """What `dtsctl status` shows of the schedule."""
        due = self.data["next_run_at"] or self.schedule.next_times(now)[0]
        following = self.schedule.next_times(due, 2)
        history = self.data["history"]
        return {
            "cron": self.schedule.cron,
            "next_runs": [self.schedule.clock(t) for t in [due, *following]],
            "next_run_at": due,
            "current_run": self.current,
            "last_run": history[-1] if history else None,
            "results": self.data["results"],
            "runs": history,
        }

    def _advance(self, now: float) -> None:
        self.data["next_run_at"] = self.schedule.next_times(max(now, self.data["next_run_at"] or now))[0]
        self.save()

    def _record(self, run: dict[str, Any]) -> None:
        self.data["history"] = (self.data["history"] + [run])[-HISTORY:]
        self.data["results"][run["result"]] = self.data["results"].get(run["result"], 0) + 1
        self.save()

    def save(self) -> None:
        write_json_atomic(self.paths.runs, self.data)
