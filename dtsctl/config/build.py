"""Building task resources from validated models and resolved endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtsctl.config.model import Endpoint, ObjectSelection, Task
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
) -> DesiredResource:
    """A task as a resource: attributes as documented in `resources`, secrets marked."""
    source, destination = ends
    attributes: dict[str, Any] = {
        "type": task.type,
        "source": task.source,
        "destination": task.destination,
        "source_endpoint": dict(source.attributes),
        "destination_endpoint": dict(destination.attributes) if destination else None,
        "phases": list(task.phases),
        "objects": [selection.model_dump() for selection in task.objects],
        "conflict_policy": task.conflict_policy,
        "throttle": task.throttle.model_dump(),
        "retry": task.retry.model_dump(),
        "status": task.status,
        "lifecycle": task.lifecycle.model_dump(),
        "workspace": str(workspace),
        "topology": topology,
    }
    secret = {p for p in tainted if p and p[0] in attributes}
    secret |= {("source_endpoint", *p) for p in source.sensitive}
    if destination:
        secret |= {("destination_endpoint", *p) for p in destination.sensitive}
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


def _password_paths(value: Any, path: AttributePath = ()) -> list[AttributePath]:
    found: list[AttributePath] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "password":
                found.append(path + (key,))
            else:
                found.extend(_password_paths(item, path + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_password_paths(item, path + (index,)))
    return found


def object_problem(objects: list[ObjectSelection], source: ResolvedEndpoint) -> str | None:
    """Relational sources need each object to say which tables it covers."""
    if source.attributes["engine"] not in ("mysql", "sqlite"):
        return None
    for index, selection in enumerate(objects):
        if selection.tables is None and not selection.all:
            return f"objects[{index}] (database {selection.database}) needs `tables: [...]` or `all: true`"
    return None
