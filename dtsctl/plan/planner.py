"""make_plan: what apply must do so the running replication matches the declaration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dtsctl.config.cutover import CUTOVER_ATTRIBUTE, REVERSE_OF, cutover_pending, cutover_steps
from dtsctl.config.resources import DesiredResource
from dtsctl.errors import DtsError
from dtsctl.plan import model as m
from dtsctl.plan.diff import AttributeDiff, attribute_changes, diff_attributes, display_desired, format_path
from dtsctl.plan.graph import dependency_order, select_targets
from dtsctl.plan.model import Observation, Plan, ResourceChange
from dtsctl.state.model import RecordedResource, State
from dtsctl.state.sensitive import get_at

UNHEALTHY = "agent is not healthy"


def make_plan(
    desired: list[DesiredResource],
    state: State,
    observed: Mapping[str, Observation] | None,
    *,
    targets: Sequence[str] = (),
    destroy: bool = False,
) -> Plan:
    """Diff declaration, state and (when given) observed agents into one change per resource.

    Raises DtsError for an unknown target, a dependency cycle, or a delete or
    replace of a resource with `lifecycle.prevent_destroy`.
    """
    wanted = _by_address(desired)
    recorded = {r.address: r for r in state.resources}
    depends_on = {a: list(r.depends_on) for a, r in recorded.items()}
    depends_on.update({a: list(d.depends_on) for a, d in wanted.items()})
    addresses = set(wanted) | set(recorded)
    if targets:
        addresses = select_targets(targets, addresses, depends_on, destroy=destroy)

    changes: dict[str, ResourceChange] = {}
    drift: list[dict[str, str]] = []
    for address in sorted(addresses):
        change = _change(wanted.get(address), recorded.get(address), destroy)
        if change is None:
            continue
        if change.actions != m.DELETE:
            change.reads_from = list(wanted[address].reads_from)
        observation = (observed or {}).get(address)
        if observation is not None and not observation.healthy and change.actions != m.DELETE and address in recorded:
            _restart_for_drift(change, observation)
            drift.append({"address": address, "reason": observation.reason or UNHEALTHY})
        _refuse_prevented_destroy(change, wanted.get(address), recorded.get(address))
        changes[address] = change

    _fold_reverse_tasks(changes, wanted)
    ordered = dependency_order(changes, depends_on)
    deletes = [a for a in ordered if changes[a].actions == m.DELETE]
    others = [a for a in ordered if changes[a].actions != m.DELETE]
    return Plan(
        changes=[changes[a] for a in [*reversed(deletes), *others]],
        drift=sorted(drift, key=lambda d: d["address"]),
        destroy=destroy,
        targets=list(targets),
        lineage=state.lineage,
        serial=state.serial,
    )


def _by_address(desired: list[DesiredResource]) -> dict[str, DesiredResource]:
    wanted: dict[str, DesiredResource] = {}
    for resource in desired:
        if resource.address in wanted:
            raise DtsError(f"{resource.location}: {resource.address} is declared twice; rename one of them")
        wanted[resource.address] = resource
    return wanted


def _change(desired: DesiredResource | None, recorded: RecordedResource | None, destroy: bool) -> ResourceChange | None:
    if destroy:
        return _delete(recorded, ["destroy was requested"], None) if recorded else None
    if recorded is None:
        assert desired is not None
        return ResourceChange(
            address=desired.address,
            type=desired.type,
            name=desired.name,
            actions=list(m.CREATE),
            before=None,
            after=display_desired(desired),
            reasons=["declared but not yet created"],
        )
    if desired is None:
        return _delete(recorded, ["no longer in the declaration"], m.DELETE_BECAUSE_NO_RESOURCE_CONFIG)
    return _update_or_replace(desired, recorded)


def _delete(recorded: RecordedResource, reasons: list[str], action_reason: str | None) -> ResourceChange:
    return ResourceChange(
        address=recorded.address,
        type=recorded.type,
        name=recorded.name,
        actions=list(m.DELETE),
        before=recorded.display_attributes(),
        after=None,
        action_reason=action_reason,
        reasons=reasons,
    )


def _update_or_replace(desired: DesiredResource, recorded: RecordedResource) -> ResourceChange:
    diff = diff_attributes(recorded, desired)
    if cutover_pending(desired.attributes, recorded.attributes):
        return _cutover(desired, recorded, diff.changed)
    if CUTOVER_ATTRIBUTE in recorded.attributes:
        _refuse_change_after_cutover(desired.address, diff.changed)
        diff = AttributeDiff([], [])
    reasons = [
        f"`{format_path(p)}` changed" + (", which forces replacement" if p in diff.forces_replacement else "")
        for p in diff.changed
    ]
    if diff.forces_replacement:
        actions, action_reason = m.REPLACE, m.REPLACE_BECAUSE_CANNOT_UPDATE
    else:
        actions, action_reason = (m.UPDATE if diff.changed else m.NO_OP), None
    before, after = recorded.display_attributes(), display_desired(desired)
    return ResourceChange(
        address=desired.address,
        type=desired.type,
        name=desired.name,
        actions=list(actions),
        before=before,
        after=after,
        action_reason=action_reason,
        reasons=reasons,
        replace_paths=[format_path(p) for p in diff.forces_replacement],
        changed_paths=[format_path(p) for p in diff.changed],
        attribute_changes=attribute_changes(diff, before, after),
    )


def _cutover(desired: DesiredResource, recorded: RecordedResource, changed: list) -> ResourceChange:
    others = [format_path(path) for path in changed if path[0] != CUTOVER_ATTRIBUTE]
    if others:
        raise DtsError(f"{desired.address}: a cutover changes nothing else; apply the changes of "
                       f"{', '.join(others)} first, or leave them out until the cutover is done")
    return ResourceChange(
        address=desired.address, type=desired.type, name=desired.name, actions=list(m.CUTOVER),
        before=recorded.display_attributes(), after=display_desired(desired),
        reasons=["`cutover` was declared"], changed_paths=[CUTOVER_ATTRIBUTE],
        steps=cutover_steps(desired.attributes, None))


def _refuse_change_after_cutover(address: str, changed: list) -> None:
    """A cut-over task is completed for good: restarting it would copy the old source again."""
    others = [format_path(path) for path in changed if path[0] != CUTOVER_ATTRIBUTE]
    if others:
        raise DtsError(f"{address} was cut over and is completed; {', '.join(others)} can no longer change. "
                       "Put them back, or destroy the task (its data stays) and declare a new one")


def _fold_reverse_tasks(changes: dict[str, ResourceChange], wanted: dict[str, DesiredResource]) -> None:
    """A reverse task is created by its forward task's cutover, at the switch: its create joins the
    cutover, and waits for it when the forward task is new."""
    for address, change in list(changes.items()):
        forward = wanted[address].attributes.get(REVERSE_OF) if address in wanted else None
        if forward is None or change.actions != m.CREATE or forward not in changes:
            continue
        forward_change = changes[forward]
        if forward_change.actions == m.CUTOVER:
            forward_change.reverse = address
            forward_change.steps = cutover_steps(wanted[forward].attributes, address)
            del changes[address]
        elif forward_change.actions == m.CREATE:
            del changes[address]


def _restart_for_drift(change: ResourceChange, observation: Observation) -> None:
    """An unhealthy agent is drift: the change (at least an update) restarts it."""
    if change.actions == m.NO_OP:
        change.actions = list(m.UPDATE)
        change.action_reason = m.UPDATE_BECAUSE_AGENT_UNHEALTHY
    change.drift = True
    change.reasons.append(f"{observation.reason or UNHEALTHY}; apply restarts the agent")


def _refuse_prevented_destroy(
    change: ResourceChange, desired: DesiredResource | None, recorded: RecordedResource | None
) -> None:
    if "delete" not in change.actions:
        return
    sources = [r.attributes for r in (desired, recorded) if r is not None]
    if any(get_at(attributes, ("lifecycle", "prevent_destroy")) is True for attributes in sources):
        raise DtsError(
            f"{change.address} has lifecycle.prevent_destroy set; set it to false first to destroy or replace it"
        )
