"""Building task resources from validated models and resolved endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtsctl import registry
from dtsctl.config.model import Endpoint, ObjectSelection, Task
from dtsctl.engine.plugin import ObjectShape
from dtsctl.secret_keys import ALWAYS_SENSITIVE_KEYS
from dtsctl.config.problems import Location, display_path
from dtsctl.config.resources import AttributePath, DesiredResource


@dataclass(frozen=True)
class ResolvedEndpoint:
    """An endpoint after templating: its attributes (sqlite path absolute) and which of them are secret."""

    name: str
    attributes: dict[str, Any]
    sensitive: frozenset[AttributePath]
    model: Endpoint


def task_resource(
    address: str,
    name: str,
    task: Task,
    ends: tuple[ResolvedEndpoint, ResolvedEndpoint | None],
    tainted: set[AttributePath],
    topology: dict[str, Any] | None,
    depends_on: tuple[str, ...],
    where: Location,
    workspace: Path,
    delivery: ResolvedEndpoint | None = None,
) -> DesiredResource:
    """A task as a resource: attributes as documented in `resources`, secrets marked.
    `delivery` is the endpoint a subscription's `deliver_to` names."""
    source, destination = ends
    attributes: dict[str, Any] = {
        "type": task.type,
        "source": task.source,
        "destination": task.destination,
        "source_endpoint": dict(source.attributes),
        "destination_endpoint": dict(destination.attributes) if destination else None,
        "phases": list(task.phases),
        # `collection_rename` came later: absent unless used, so tasks recorded before plan no change
        "objects": [selection.model_dump(exclude=set() if selection.collection_rename else {"collection_rename"})
                    for selection in task.objects],
        "conflict_policy": task.conflict_policy,
        "throttle": task.throttle.attributes(),
        "retry": task.retry.model_dump(),
        "status": task.status,
        "lifecycle": task.lifecycle.model_dump(),
        "workspace": str(workspace),
        "topology": topology,
    }
    if task.type == "subscription":
        attributes.update(_subscription_attributes(task, delivery))
    # only when declared, so tasks recorded before these existed plan no change
    if task.schedule is not None:
        attributes["schedule"] = task.schedule.model_dump()
    if task.alerts is not None:
        attributes["alerts"] = task.alerts.model_dump()
    if task.cutover is not None:
        attributes["cutover"] = task.cutover.model_dump()
    if task.verify is not None:
        attributes["verify"] = task.verify.model_dump()
    if task.on_position_lost != "fail":
        attributes["on_position_lost"] = task.on_position_lost
    secret = {p for p in tainted if p and p[0] in attributes}
    secret |= {("source_endpoint", *p) for p in source.sensitive}
    if destination:
        secret |= {("destination_endpoint", *p) for p in destination.sensitive}
    if delivery:
        secret |= {("delivery_endpoint", *p) for p in delivery.sensitive}
    secret |= set(_password_paths(attributes))
    return DesiredResource(
        address=address,
        type="task",
        name=name,
        attributes=attributes,
        sensitive_paths=frozenset(secret),
        depends_on=depends_on,
        file=display_path(where.file),
        line=where.line,
    )


def _subscription_attributes(task: Task, delivery: ResolvedEndpoint | None) -> dict[str, Any]:
    retention = task.retention.model_dump() if task.retention else {"hours": 24.0, "megabytes": 0.0}
    return {
        "retention": retention,
        "consumer_groups": {name: group.model_dump() for name, group in sorted(task.groups().items())},
        "deliver_to": task.deliver_to.model_dump() if task.deliver_to else None,
        "delivery_endpoint": dict(delivery.attributes) if delivery else None,
    }


def _password_paths(value: Any, path: AttributePath = ()) -> list[AttributePath]:
    found: list[AttributePath] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ALWAYS_SENSITIVE_KEYS:
                found.append(path + (key,))
            else:
                found.extend(_password_paths(item, path + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_password_paths(item, path + (index,)))
    return found


def delivery_problem(delivery: ResolvedEndpoint | None) -> str | None:
    if delivery is not None and registry.engine(delivery.attributes["engine"]).stream_target is None:
        holders = " or ".join(registry.engine_names(lambda engine: engine.stream_target is not None))
        return f"deliver_to names endpoint {delivery.name} ({delivery.attributes['engine']}); it must be a {holders} endpoint"
    return None


def object_problem(objects: list[ObjectSelection], source: ResolvedEndpoint) -> str | None:
    """Table sources need each object to say which tables it covers."""
    if registry.engine(source.attributes["engine"]).objects is not ObjectShape.TABLES:
        return None
    for index, selection in enumerate(objects):
        if selection.tables is None and not selection.all:
            return f"objects[{index}] (database {selection.database}) needs `tables: [...]` or `all: true`"
    return None
