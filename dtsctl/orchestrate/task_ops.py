"""Create, reconfigure and delete one task: precheck, prepare the source, run the agent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any

from dtsctl.config.resources import DesiredResource
from dtsctl.runtime import lifecycle
from dtsctl.errors import DtsError
from dtsctl.runtime.agent_control import Agent
from dtsctl.schedule import with_next_window


def run_precheck(address: str, attributes: dict[str, Any], task_id: str, fed_by: tuple[str, ...] = ()) -> None:
    """Raise a DtsError naming every failed check; warnings do not stop the task."""
    checks = lifecycle.precheck(with_next_window(attributes, time.time()), task_id, fed_by)
    failed = [check for check in checks if not check.ok and not check.warning]
    if failed:
        details = "; ".join(check.message for check in failed)
        raise DtsError(f"{address}: precheck failed: {details}")


def _run(agent: Agent, task_id: str, attributes: dict[str, Any], sensitive_paths: Iterable[Sequence[Any]]) -> None:
    if attributes["status"] == "running":  # a paused task is prepared when it resumes
        lifecycle.prepare(with_next_window(attributes, time.time()), task_id)
    agent.write_config(task_id, attributes, sensitive_paths)
    # declared groups readable (removed ones gone) at once; on the etcd runtime the owning node's agent
    # does it as it starts with this configuration
    if attributes["type"] == "subscription" and isinstance(agent, Agent):
        lifecycle.sync_groups(agent.paths.root, attributes)
    if _starts_agent(attributes):
        agent.start()
    elif attributes["status"] == "running":
        agent.set_desired("running")  # the supervisor starts each run at its time
    else:
        agent.set_desired("paused")


def _starts_agent(attributes: dict[str, Any]) -> bool:
    """Whether applying `attributes` starts the task's agent now (a scheduled migration's runs start
    at their times)."""
    return attributes["status"] == "running" and not attributes.get("schedule")


def create_task(agent: Agent, task_id: str, resource: DesiredResource) -> None:
    """Precheck, prepare the source and start; on failure nothing of the task is left behind."""
    run_precheck(agent.address, resource.attributes, task_id, resource.reads_from)
    try:
        _run(agent, task_id, resource.attributes, resource.sensitive_paths)
    except BaseException:
        delete_task(agent, task_id, resource.attributes)
        raise


def reconfigure_task(agent: Agent, task_id: str, resource: DesiredResource) -> None:
    """Stop gracefully, take the new configuration, resume from the checkpoint (or stay paused).

    The precheck runs before the agent is stopped, and if anything fails after
    the stop the agent goes back to its previous configuration. Pausing needs no
    endpoint, so it works while one is down (to stop a pair during a failover);
    the precheck runs when the task resumes. The new agent's interpreter starts
    meanwhile (`starting`).
    """
    running = resource.attributes["status"] == "running"
    with agent.starting() if _starts_agent(resource.attributes) else contextlib.nullcontext():
        if running:
            run_precheck(agent.address, resource.attributes, task_id, resource.reads_from)
        previous = agent.config()
        agent.stop("stopped")
        try:
            _run(agent, task_id, resource.attributes, resource.sensitive_paths)
        except BaseException:
            if previous:
                _run(agent, task_id, previous["attributes"], previous.get("sensitive_paths", ()))
            raise


def delete_task(agent: Agent, task_id: str, attributes: dict[str, Any]) -> None:
    """Stop the agent and remove dtsctl's own objects; user data on the endpoints stays as it is.

    The agent's own configuration is preferred: it holds the credentials in
    clear, where the state only holds their hashes.
    """
    agent.stop("stopped")
    if isinstance(agent, Agent):  # a cluster task is torn down by its node, which holds the credentials
        lifecycle.teardown(agent.config().get("attributes") or attributes, task_id)
        agent.leave_shared_log(task_id, attributes)
    agent.remove()
