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
    """(the later task, message) for every pair of tasks that write the same object.

    Each task is compared only with the earlier tasks an index says may share
    something with it (same destination server, same database, same name or an
    overlapping key prefix), so a workspace of many tasks that do not collide
    costs time linear in its size.
    """
    found: list[tuple[DesiredResource, str]] = []
    indexes: dict[tuple[Any, ...], _WriterIndex] = {}
    for later in resources:
        destination = later.attributes.get("destination_endpoint")
        if not destination:
            continue
        index = indexes.setdefault(identity(destination), _WriterIndex())
        written = _written(later)
        for earlier in index.candidates(written):
            shared = _shared_object(earlier, later)
            if shared:
                found.append(
                    (later, f"{earlier.address} and {later.address} both write {shared} on endpoint {later.attributes['destination']}; give each task its own objects")
                )
        index.add(later, written)
    return found


class _WriterIndex:
    """The tasks seen so far that write to one destination server, by what they write."""

    def __init__(self) -> None:
        self._writers: list[DesiredResource] = []
        self._in_database: dict[str, list[int]] = {}  # any object of the database
        self._whole: dict[str, list[int]] = {}  # the database as a whole
        self._named: dict[tuple[str, str], list[int]] = {}  # a table, collection or key prefix by name
        self._prefix_starts: dict[tuple[str, str], list[int]] = {}  # key prefixes by each of their beginnings

    def add(self, resource: DesiredResource, written: list[_Written]) -> None:
        number = len(self._writers)
        self._writers.append(resource)
        for selection in written:
            database = selection.database
            self._in_database.setdefault(database, []).append(number)
            if selection.names is None:
                self._whole.setdefault(database, []).append(number)
                continue
            for name in selection.names:
                self._named.setdefault((database, name), []).append(number)
                if selection.prefixes:
                    for end in range(len(name) + 1):
                        self._prefix_starts.setdefault((database, name[:end]), []).append(number)

    def candidates(self, written: list[_Written]) -> list[DesiredResource]:
        """The earlier writers, in declaration order, that may write something `written` also writes."""
        numbers: set[int] = set()
        for selection in written:
            database = selection.database
            if selection.names is None:
                numbers.update(self._in_database.get(database, ()))
                continue
            numbers.update(self._whole.get(database, ()))
            for name in selection.names:
                numbers.update(self._named.get((database, name), ()))
                if selection.prefixes:  # an earlier prefix that begins this one, or that this one begins
                    for end in range(len(name)):
                        numbers.update(self._named.get((database, name[:end]), ()))
                    numbers.update(self._prefix_starts.get((database, name), ()))
        return [self._writers[number] for number in sorted(numbers)]


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
                names = [(selection.get("collection_rename") or {}).get(c, c) for c in selection["collections"]]
            elif selection.get("key_prefixes") is not None:
                names, prefixes = list(selection["key_prefixes"]), True
        result.append(_Written(str(database), frozenset(names) if names is not None else None, prefixes))
    return result
