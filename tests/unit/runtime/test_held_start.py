"""An agent started ahead (`Agent.starting`): its interpreter starts while `apply` prechecks, and it
touches its task only once `start` lets it go."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import AGENT_HELD, RuntimePaths
from dtsctl.runtime.process import is_running, read_pid


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    agent = Agent(RuntimePaths(tmp_path), "task.held")
    agent.write_config("id-1", {"status": "running"}, [])  # no engines: a released agent fails at once
    return agent


def held_agents(task_dir: Path, at_least: int = 0, timeout: float = 15.0) -> list[int]:
    """Pids of processes started held for `task_dir`, once there are `at_least` (a new process shows
    its own command line a moment after it is started)."""
    deadline = time.monotonic() + timeout
    while len(found := _held_agents(task_dir)) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def _held_agents(task_dir: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if AGENT_HELD.encode() in arguments and str(task_dir).encode() in arguments:
            found.append(int(entry.name))
    return found


def wait_until_gone(pid: int, task_dir: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while is_running(pid, str(task_dir)):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.02)


def test_a_held_agent_that_is_not_let_go_is_gone_at_the_end_and_never_took_its_task(agent: Agent) -> None:
    with agent.starting():
        assert held_agents(agent.paths.root, at_least=1), "the agent's interpreter starts at once"
    assert held_agents(agent.paths.root) == [], "gone before the block ends (a failed precheck)"
    assert not agent.paths.pid.exists() and not (agent.paths.root / "agent.lock").exists()


def test_start_lets_the_held_agent_go_instead_of_starting_another(agent: Agent) -> None:
    with agent.starting():
        [held] = held_agents(agent.paths.root, at_least=1)
        started = agent.start()
    assert started == held
    assert read_pid(agent.paths.pid) == held, "the held agent took its task"
    wait_until_gone(held, agent.paths.root)


def test_a_held_agent_killed_before_start_is_replaced_by_a_new_one(agent: Agent) -> None:
    with agent.starting():
        [held] = held_agents(agent.paths.root, at_least=1)
        os.kill(held, signal.SIGKILL)
        wait_until_gone(held, agent.paths.root)
        started = agent.start()
    assert started != held
    assert read_pid(agent.paths.pid) == started
    wait_until_gone(started, agent.paths.root)
