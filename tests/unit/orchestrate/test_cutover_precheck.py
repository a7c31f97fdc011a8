"""The cutover's lag precheck: a lag not known yet (a task that has just entered incremental and
has applied nothing) is waited for; a known lag over the bound is refused at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dtsctl.config.resources import DesiredResource
from dtsctl.errors import DtsError
from dtsctl.orchestrate import cutover
from dtsctl.runtime.agent_control import TaskView
from dtsctl.runtime.layout import RuntimePaths


class Lags:
    """An agent whose status shows these lags, one per look, the last one from then on."""

    def __init__(self, *lags: float | None) -> None:
        self.lags = list(lags)
        self.looks = 0

    def view(self) -> TaskView:
        self.looks += 1
        lag = self.lags.pop(0) if len(self.lags) > 1 else self.lags[0]
        return TaskView("task.move", "running", "incremental", 1, {"lag_seconds": lag}, None)


def _run(tmp_path: Path, agent: Lags) -> cutover.CutoverRun:
    resource = DesiredResource("task.move", "task", "move", {"cutover": {"max_lag": 5}})
    run = cutover.CutoverRun(RuntimePaths(tmp_path), resource, "id", lambda line: None)
    run.agent = agent  # type: ignore[assignment]
    return run


def test_an_unknown_lag_is_waited_for(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(cutover.time, "sleep", lambda seconds: None)
    agent = Lags(None, None, 0.4)
    _run(tmp_path, agent)._precheck_lag()
    assert agent.looks == 3


def test_a_lag_over_the_bound_is_refused_at_once(tmp_path: Path) -> None:
    agent = Lags(9.0)
    with pytest.raises(DtsError, match="lag is 9.0s, over the cutover's max_lag of 5s"):
        _run(tmp_path, agent)._precheck_lag()
    assert agent.looks == 1


def test_a_lag_still_unknown_after_the_wait_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(cutover, "LAG_KNOWN_SECONDS", 0.0)
    with pytest.raises(DtsError, match="lag is unknown"):
        _run(tmp_path, Lags(None))._precheck_lag()
