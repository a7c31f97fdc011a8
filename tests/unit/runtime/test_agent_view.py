"""How a task's state is derived from the files its agent, the supervisor and the CLI write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtsctl.jsonfile import write_json_atomic
from dtsctl.runtime.agent_control import Agent, list_agents
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.process import is_running, stop_process


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    agent = Agent(RuntimePaths(tmp_path), "module.dr.task.copy")
    agent.write_config("id-1", {"status": "running"}, [])
    return agent


def test_config_is_owner_only_and_listed(agent: Agent, tmp_path: Path) -> None:
    assert oct(agent.paths.config.stat().st_mode & 0o777) == "0o600"
    assert [a.address for a in list_agents(RuntimePaths(tmp_path))] == ["module.dr.task.copy"]


@pytest.mark.parametrize(
    ("desired", "agent_state", "supervisor", "expected"),
    [
        ("paused", "stopped", {}, "paused"),
        ("running", "completed", {}, "completed"),
        ("running", "failed", {}, "failed"),
        ("running", "running", {"failed": True, "reason": "kept failing"}, "failed"),
        ("running", "running", {}, "stopped"),  # no live agent process
        ("stopped", "stopped", {}, "stopped"),
    ],
)
def test_state_without_a_live_agent(agent: Agent, desired: str, agent_state: str, supervisor: dict,
                                    expected: str) -> None:
    agent.set_desired(desired)
    write_json_atomic(agent.paths.status, {"state": agent_state, "phase": "incremental", "last_error": None})
    write_json_atomic(agent.paths.supervisor, supervisor)
    view = agent.view()
    assert view.state == expected
    assert view.pid is None
    if supervisor.get("failed"):
        assert view.last_error == "kept failing"


def test_contract_keys(agent: Agent) -> None:
    keys = set(agent.view().as_contract())
    assert {"address", "state", "phase", "lag_seconds", "rows_copied", "events_applied", "pid", "last_error",
            "checkpoint"} <= keys


def test_liveness_checks_the_command_line_not_just_the_pid(tmp_path: Path) -> None:
    marker = str(tmp_path / "task-dir")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        deadline = time.monotonic() + 10
        while not is_running(process.pid, marker):  # until the child has exec'd its own command line
            assert time.monotonic() < deadline, "the child never showed its command line"
            time.sleep(0.01)
        assert not is_running(process.pid, str(tmp_path / "other-task"))
        assert not is_running(os.getpid() + 10_000_000, marker)
        assert stop_process(process.pid, marker, grace_seconds=5) is False  # SIGTERM was enough
        process.wait(5)
        assert not is_running(process.pid, marker)
    finally:
        process.kill()
