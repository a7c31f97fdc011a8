"""The supervisor's decision to restart an agent, on files written by hand (no process is spawned)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime import supervisor as supervisor_module
from dtsctl.runtime.agents import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.supervisor import Supervisor


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    started: list[Path] = []

    class FakeProcess:
        def poll(self) -> int:
            return 0

    def fake_spawn(_module: str, root: Path, _log: Path, cwd: Path) -> FakeProcess:
        started.append(root)
        return FakeProcess()

    monkeypatch.setattr(supervisor_module, "spawn_detached", fake_spawn)
    return started


def test_an_agent_apply_is_starting_is_not_restarted(tmp_path: Path, spawned: list[Path]) -> None:
    runtime = RuntimePaths(tmp_path)
    agent = Agent(runtime, "task.copy")
    agent.write_config("id", {"status": "running"}, [])
    agent.set_desired("running")
    now = time.time()
    write_json_atomic(agent.paths.supervisor, {"restarts": 0, "started_at": now})  # as Agent.start writes it
    supervisor = Supervisor(runtime)
    supervisor._watch(agent, now + 1)
    assert spawned == [] and read_json(agent.paths.supervisor)["restarts"] == 0
    supervisor._watch(agent, now + 11)  # it never came up: now it is restarted
    assert spawned == [agent.paths.root] and read_json(agent.paths.supervisor)["restarts"] == 1
