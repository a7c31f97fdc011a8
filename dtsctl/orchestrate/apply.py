"""Carry a plan out, one resource at a time, saving the state after each.

A failure midway leaves a state that describes exactly what exists: a
resource is recorded only once its agent is set up, and forgotten only once
it is torn down. Resources that depend on a failed one are skipped, and a task
that reads another task's destination starts once that task has created its tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dtsctl.config.resources import DesiredResource
from dtsctl.errors import DtsError
from dtsctl.orchestrate.backend import LocalTasks, tasks_for
from dtsctl.orchestrate.cutover import CutoverRun, recorded_before_cutover
from dtsctl.orchestrate.task_ops import create_task, delete_task, reconfigure_task
from dtsctl.orchestrate.upstream import wait_for_upstream_schema
from dtsctl.plan import Plan, ResourceChange
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.state import State, StateFile, new_recorded

VERBS = {"create": "Creating", "update": "Modifying", "replace": "Replacing", "delete": "Destroying",
         "cutover": "Cutting over"}


@dataclass
class Outcome:
    address: str
    action: str  # create | update | replace | delete | cutover
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def action_of(change: ResourceChange) -> str:
    actions = change.actions
    if actions == ["delete", "create"]:
        return "replace"
    return actions[0]


def apply_plan(
    plan: Plan,
    desired: Mapping[str, DesiredResource],
    state_file: StateFile,
    state: State,
    runtime: RuntimePaths,
    report: Callable[[str], None] = lambda _line: None,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    failed: set[str] = set()
    tasks = tasks_for(runtime)
    for change in plan.changes:
        if change.actions == ["no-op"]:
            continue
        action = action_of(change)
        resource = desired.get(change.address)
        blocked_by = [dep for dep in (resource.depends_on if resource else ()) if dep in failed]
        if blocked_by:
            outcomes.append(Outcome(change.address, action, f"skipped because {', '.join(blocked_by)} failed"))
            failed.add(change.address)
            continue
        try:
            if resource is not None and resource.attributes["status"] == "running":
                for upstream in resource.reads_from:
                    wait_for_upstream_schema(tasks.task(upstream), change.address, report)
            report(f"{change.address}: {VERBS[action]}...")
            if action == "cutover":
                assert resource is not None
                _cut_over(resource, desired.get(change.reverse or ""), state_file, state, runtime, tasks, report)
            else:
                _carry_out(action, change.address, resource, state_file, state, tasks)
        except DtsError as error:
            outcomes.append(Outcome(change.address, action, error.message))
            failed.add(change.address)
            report(f"{change.address}: failed: {error.message}")
            continue
        outcomes.append(Outcome(change.address, action))
        if change.reverse:
            outcomes.append(Outcome(change.reverse, "create"))  # by the cutover, at the switch
        report(f"{change.address}: {action} complete")
    tasks.settle()
    return outcomes


def _carry_out(
    action: str,
    address: str,
    resource: DesiredResource | None,
    state_file: StateFile,
    state: State,
    tasks: Any,
) -> None:
    if resource is not None:
        tasks.check(resource)  # before anything is torn down or prepared
    agent = tasks.task(address)
    recorded = state.get(address)
    if action in ("delete", "replace") and recorded is not None:
        delete_task(agent, recorded.task_id, recorded.attributes)
        state.remove(address)
        state_file.write(state)
    if action == "delete":
        return
    assert resource is not None, f"{address}: a create or update needs the declared resource"
    if action == "update" and recorded is not None:
        reconfigure_task(agent, recorded.task_id, resource)
        state.put(new_recorded(resource, recorded.task_id))
    else:
        task_id = str(uuid.uuid4())
        create_task(agent, task_id, resource)
        state.put(new_recorded(recorded_before_cutover(resource), task_id))
    state_file.write(state)
    if resource.attributes["status"] == "running":
        tasks.started()


def _cut_over(resource: DesiredResource, reverse: DesiredResource | None, state_file: StateFile, state: State,
              runtime: RuntimePaths, tasks: Any, report: Callable[[str], None]) -> None:
    """The cutover, then the task recorded as cut over, then its reverse task (if declared) created
    and recorded, each saved at once."""
    if not isinstance(tasks, LocalTasks):
        raise DtsError("a cutover runs on the local runtime only: the cluster runtime cannot freeze and drain "
                       "a source yet; cut over with `wait --max-lag`, `verify` and `destroy` instead")
    recorded = state.get(resource.address)
    assert recorded is not None, f"{resource.address}: a cutover needs the recorded task"
    run = CutoverRun(runtime, resource, recorded.task_id, report)
    reverse_id = str(uuid.uuid4()) if reverse is not None else None
    start = run.switch(reverse, reverse_id)
    try:
        state.put(new_recorded(resource, recorded.task_id))
        state_file.write(state)
        if reverse is not None and reverse_id is not None:
            run.create_reverse(reverse, reverse_id, start)
            state.put(new_recorded(reverse, reverse_id))
            state_file.write(state)
            tasks.started()
    finally:
        run.finish()
    if reverse is not None:
        run.await_reverse(reverse)
