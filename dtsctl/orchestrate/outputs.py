"""Outputs: evaluated against the tasks' live status, recorded in the state without secrets."""

from __future__ import annotations

from typing import Any

from dtsctl.config import OutputValue, Workspace
from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.state import State


def live_task_values(workspace: Workspace, runtime: RuntimePaths) -> dict[str, dict[str, Any]]:
    """Live attributes of the tasks that have an agent; tasks not yet created have none (null)."""
    agents = (Agent(runtime, r.address) for r in workspace.resources)
    return {agent.address: agent.view().as_contract() for agent in agents if agent.exists}


def current_outputs(workspace: Workspace, runtime: RuntimePaths) -> dict[str, OutputValue]:
    return workspace.evaluate_outputs(live_task_values(workspace, runtime))


def record_outputs(workspace: Workspace, state: State, runtime: RuntimePaths) -> bool:
    """Put the outputs' current values in `state`; returns whether they changed (and need writing)."""
    outputs = {
        name: ({"sensitive": True} if output.sensitive else output.value)
        for name, output in current_outputs(workspace, runtime).items()
    }
    changed = outputs != state.outputs
    state.outputs = outputs
    return changed
