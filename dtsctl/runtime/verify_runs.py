"""Verification a task declares (`verify: {after_full, schedule}`), run for it in the background.

The supervisor asks `VerifyBook.due` each round and starts `python -m dtsctl.runtime.verify_runs
<task dir>` when a run is due: once after the full copy (the task reached incremental, or completed),
and at each time of its cron schedule. The run compares the task's ends as `dtsctl verify` does and
records the result in the task's `verify.json`, which `status` shows. Runs never overlap.

    verify.json  {"task_id", "after_full_done": bool, "started_at", "pid",
                  "last": {"finished_at", "trigger", "equal", "differences", "tables": [...]} or
                          {"finished_at", "trigger", "error"}}
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dtsctl.errors import DtsError
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.layout import RuntimePaths, TaskPaths
from dtsctl.runtime.process import is_running
from dtsctl.schedule import CronSchedule

VERIFY_MODULE = "dtsctl.runtime.verify_runs"


class VerifyBook:
    def __init__(self, paths: TaskPaths, task_id: str, declared: dict[str, Any]) -> None:
        self.path = paths.root / "verify.json"
        self.declared = declared
        data = read_json(self.path, {}) or {}
        self.data = data if data.get("task_id") == task_id else {"task_id": task_id}  # a replaced task starts over

    @property
    def running(self) -> bool:
        return is_running(self.data.get("pid"), VERIFY_MODULE)

    def due(self, now: float, phase_reached: bool) -> str | None:
        """Why a run is due now ("after_full" or "schedule"), or None."""
        if self.running:
            return None
        if self.declared.get("after_full") and not self.data.get("after_full_done") and phase_reached:
            return "after_full"
        schedule = self.declared.get("schedule")
        if schedule:
            if "scheduled_from" not in self.data:  # the first scheduled run is the first time after now
                self.data["scheduled_from"] = now
                write_json_atomic(self.path, self.data)
            if now >= CronSchedule(schedule).next_times(self.data.get("started_at") or self.data["scheduled_from"])[0]:
                return "schedule"
        return None

    def started(self, trigger: str, pid: int, now: float) -> None:
        self.data.update(pid=pid, started_at=now, trigger=trigger)
        if trigger == "after_full":
            self.data["after_full_done"] = True
        write_json_atomic(self.path, self.data)

    def finished(self, result: dict[str, Any]) -> None:
        self.data = read_json(self.path, {}) or self.data
        self.data.update(last={"finished_at": time.time(), "trigger": self.data.get("trigger"), **result}, pid=None)
        write_json_atomic(self.path, self.data)


def last_result(paths: TaskPaths) -> dict[str, Any] | None:
    return (read_json(paths.root / "verify.json", {}) or {}).get("last")


def main(argv: list[str]) -> int:
    """Run the due verification of the task in directory argv[0] and record its result."""
    from dtsctl.runtime.verification import verify_task  # connectors: only in this process

    paths = TaskPaths(Path(argv[0]).resolve())
    config = read_json(paths.config)
    attributes = config["attributes"]
    book = VerifyBook(paths, config["task_id"], attributes.get("verify") or {})
    try:
        reports = verify_task(RuntimePaths(paths.root.parent.parent), config["address"], config["task_id"], attributes)
    except DtsError as error:
        book.finished({"error": error.message})
        return 1
    tables = [report.to_json() for report in reports]
    book.finished({"equal": all(report.ok for report in reports),
                   "differences": sum(report.differences for report in reports), "tables": tables})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
