"""Refresh: what the runtime really runs, compared with what the state records."""

from __future__ import annotations

from dtsctl.orchestrate.backend import TaskHandle, tasks_for
from dtsctl.plan import Observation
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.state import State


def observe(runtime: RuntimePaths, state: State) -> dict[str, Observation]:
    """One observation per recorded task; unhealthy ones become drift in the plan."""
    tasks = tasks_for(runtime)
    supervised = tasks.supervised() if state.resources else False
    return {record.address: _observe_one(tasks.task(record.address), supervised) for record in state.resources}


def _observe_one(agent: TaskHandle, supervised: bool) -> Observation:
    if not agent.exists:
        return Observation(agent.address, False, "its agent's files are gone from the runtime directory")
    view = agent.view()
    if view.state == "failed" and view.schedule is None:  # a scheduled task's next run starts afresh
        return Observation(agent.address, False, f"task failed: {view.last_error or 'see dtsctl logs'}")
    if view.state == "stopped" and agent.desired == "running":
        crashed = view.status.get("state") == "running"
        if crashed and supervised:
            return Observation(agent.address, True, "the supervisor is restarting its agent")
        how = "the agent died and no supervisor is running" if crashed else "the agent was stopped outside dtsctl"
        return Observation(agent.address, False, f"agent is not running: {how}")
    return Observation(agent.address, True, None)
