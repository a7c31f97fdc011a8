"""Checks across tasks: two tasks must not write the same object, a task must not copy onto itself.

Endpoints are compared by identity (engine, host, port, path, database,
cluster, Sentinels and master name), not by name, so two names for one server still collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dtsctl.config.resources import ENDPOINT_IDENTITY_PATHS, DesiredResource

@dataclass(frozen=True)
class _Written:
    """What one object selection writes on its destination."""

    database: str
    names: frozenset[str] | None  # tables / collections after renames; None: the whole database
    prefixes: bool  # names are Redis key prefixes (overlap when one starts with the other)


# Two Sentinel sets may each call their master `mymaster`: which Sentinels tell the servers apart.
_SERVER_PATHS = (*ENDPOINT_IDENTITY_PATHS, ("sentinel", "hosts"))


def identity(endpoint: dict[str, Any]) -> tuple[Any, ...]:
    """A hashable value equal for two endpoints exactly when they name the same server."""
    values = []
    for path in _SERVER_PATHS:
        value: Any = endpoint
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values.append(tuple(sorted(value)) if isinstance(value, list) else value)
    return tuple(values)


def self_copy_problem(resource: DesiredResource) -> str | None:
    """Why a task would read what it writes, or None."""
    attributes = resource.attributes
    if attributes["destination"] is None:
        return None
    if attributes["source"] == attributes["destination"]:
        return f"{resource.address}: source and destination are the same endpoint `{attributes['source']}`; name a different destination"
    if identity(attributes["source_endpoint"]) != identity(attributes["destination_endpoint"]):
        return None
    for selection in attributes["objects"]:
        target = selection["rename"] if selection["rename"] is not None else selection["database"]
        if str(target) == str(selection["database"]):
            return (
                f"{resource.address}: `{attributes['source']}` and `{attributes['destination']}` are the same server, "
                f"so database {selection['database']} would be copied onto itself; give it a `rename`"
            )
    return None


def write_conflicts(resources: Sequence[DesiredResource]) -> list[tuple[DesiredResource, str]]:
    """(the later task, message) for every pair of tasks that write the same object."""
    found: list[tuple[DesiredResource, str]] = []
    writers = [r for r in resources if r.attributes.get("destination_endpoint")]
    for index, later in enumerate(writers):
        for earlier in writers[:index]:
            if identity(earlier.attributes["destination_endpoint"]) != identity(later.attributes["destination_endpoint"]):
                continue
            shared = _shared_object(earlier, later)
            if shared:
                found.append(
                    (later, f"{earlier.address} and {later.address} both write {shared} on endpoint {later.attributes['destination']}; give each task its own objects")
                )
    return found


def _shared_object(first: DesiredResource, second: DesiredResource) -> str | None:
    for mine in _written(first):
        for theirs in _written(second):
            if mine.database != theirs.database:
                continue
            if mine.names is None and theirs.names is None:
                return f"{mine.database} (all of it)"
            if mine.names is None or theirs.names is None:
                specific = mine.names if mine.names is not None else theirs.names
                return f"{mine.database}.{sorted(specific)[0]}" if specific else f"{mine.database} (all of it)"
            common = _common(mine.names, theirs.names, mine.prefixes and theirs.prefixes)
            if common:
                return f"{mine.database}.{common}"
    return None


def _common(first: frozenset[str], second: frozenset[str], prefixes: bool) -> str | None:
    if prefixes:
        for a in sorted(first):
            for b in sorted(second):
                if a.startswith(b) or b.startswith(a):
                    return f"{min(a, b, key=len)}*"
        return None
    both = sorted(first & second)
    return both[0] if both else None


def _written(resource: DesiredResource) -> list[_Written]:
    result = []
    for selection in resource.attributes["objects"]:
        database = selection["rename"] if selection["rename"] is not None else selection["database"]
        names: list[str] | None = None
        prefixes = False
        if not selection["all"]:
            if selection.get("tables") is not None:
                names = [selection["table_rename"].get(t, t) for t in selection["tables"]]
            elif selection.get("collections") is not None:
                names = list(selection["collections"])
            elif selection.get("key_prefixes") is not None:
                names, prefixes = list(selection["key_prefixes"]), True
        result.append(_Written(str(database), frozenset(names) if names is not None else None, prefixes))
    return result
