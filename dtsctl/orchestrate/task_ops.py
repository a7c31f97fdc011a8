"""Create, reconfigure and delete one task: precheck, prepare the source, run the agent."""

from __future__ import annotations

from typing import Any

from dtsctl.engine import lifecycle
from dtsctl.errors import DtsError
from dtsctl.runtime.agents import Agent


def run_precheck(address: str, attributes: dict[str, Any], task_id: str) -> None:
    """Raise a DtsError naming every failed check; warnings do not stop the task."""
    failed = [check for check in lifecycle.precheck(attributes, task_id) if not check.ok and not check.warning]
    if failed:
        details = "; ".join(check.message for check in failed)
        raise DtsError(f"{address}: precheck failed: {details}")


def _run(agent: Agent, task_id: str, attributes: dict[str, Any]) -> None:
    lifecycle.prepare(attributes, task_id)
    agent.write_config(task_id, attributes)
    if attributes["status"] == "running":
        agent.start()
    else:
        agent.set_desired("paused")


def create_task(agent: Agent, task_id: str, attributes: dict[str, Any]) -> None:
    """Precheck, prepare the source and start; on failure nothing of the task is left behind."""
    run_precheck(agent.address, attributes, task_id)
    try:
        _run(agent, task_id, attributes)
    except BaseException:
        delete_task(agent, task_id, attributes)
        raise


def reconfigure_task(agent: Agent, task_id: str, attributes: dict[str, Any]) -> None:
    """Stop gracefully, take the new configuration, resume from the checkpoint (or stay paused).

    The precheck runs before the agent is stopped, and if anything fails after
    the stop the agent goes back to its previous configuration.
    """
    run_precheck(agent.address, attributes, task_id)
    previous = agent.config().get("attributes")
    agent.stop("stopped")
    try:
        _run(agent, task_id, attributes)
    except BaseException:
        if previous is not None:
            _run(agent, task_id, previous)
        raise


def delete_task(agent: Agent, task_id: str, attributes: dict[str, Any]) -> None:
    """Stop the agent and remove dtsctl's own objects; user data on the endpoints stays as it is.

    The agent's own configuration is preferred: it holds the credentials in
    clear, where the state only holds their hashes.
    """
    agent.stop("stopped")
    lifecycle.teardown(agent.config().get("attributes") or attributes, task_id)
    agent.remove()
