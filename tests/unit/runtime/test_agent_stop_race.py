"""A stop that misses an agent still starting: the agent reads the stop itself and leaves its task
alone (a stop records why before it looks for the agent's pid; the agent writes its pid before it
reads why)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtsctl.runtime.agent_control import AGENT_MODULE, Agent
from dtsctl.runtime.layout import EXIT_FATAL, RuntimePaths
from dtsctl.runtime.process import spawn_detached


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    agent = Agent(RuntimePaths(tmp_path), "task.race")
    agent.write_config("id-1", {"status": "running"}, [])  # no engines: an agent that runs fails at once
    return agent


def run_agent(agent: Agent) -> int:
    """Start the agent process the way the supervisor does, and wait for its exit code."""
    process = spawn_detached(AGENT_MODULE, agent.paths.root, agent.paths.log, cwd=agent.paths.root)
    return process.wait(timeout=30)


@pytest.mark.parametrize("desired", ["stopped", "paused"])
def test_an_agent_starting_after_a_stop_was_recorded_exits_without_running(agent: Agent, desired: str) -> None:
    agent.set_desired(desired)
    assert run_agent(agent) == 0
    assert not agent.paths.status.exists(), "it never ran the task"


def test_an_agent_that_is_wanted_runs(agent: Agent) -> None:
    agent.set_desired("running")
    assert run_agent(agent) == EXIT_FATAL  # its configuration names no engine
    assert agent.paths.status.exists()
