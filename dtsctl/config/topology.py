"""Topologies: their rules, and the tasks each one expands into.

    one-way      [A, B]     -> forward (A to B)
    one-to-many  [A, B, C]  -> B, C (A to each)
    cascade      [A, B, C]  -> A_to_B, B_to_C (each link after the previous one)
    two-way      [A, B]     -> forward (from initial_sync_from, all phases) and
                               reverse (incremental only, no DDL); each names the other as peer
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dtsctl import registry
from dtsctl.config.model import ALL_PHASES, Task, Topology
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.config.yamlsrc import YamlPath

TWO_WAY_ENDPOINTS = "two-way synchronization is supported only between two endpoints; use a pair per link"


@dataclass(frozen=True)
class TopologyTask:
    """One task a topology asks for; `depends_on` and `peer` are names within the topology."""

    name: str
    task: Task
    depends_on: tuple[str, ...] = ()
    peer: str | None = None


def topology_problems(name: str, topology: Topology, engines: Mapping[str, str],
                      clusters: frozenset[str] = frozenset()) -> list[tuple[YamlPath, str]]:
    """What is wrong with a topology whose endpoints all exist; `engines` maps endpoint name to engine,
    `clusters` names the endpoints that are Redis Clusters."""
    found: list[tuple[YamlPath, str]] = []
    ends = topology.endpoints
    label = f"topology.{name}"
    for index, endpoint in enumerate(ends):
        if ends.index(endpoint) != index:
            found.append((("endpoints", index), f"{label}: endpoint `{endpoint}` appears twice"))
    if topology.type == "two-way" and len(ends) != 2:
        found.append((("endpoints",), TWO_WAY_ENDPOINTS))
    if topology.type == "one-way" and len(ends) != 2:
        found.append((("endpoints",), f"{label}: a one-way topology takes exactly two endpoints [source, destination]"))
    kinds = {engines[e] for e in ends}
    if len(kinds) > 1:
        listed = ", ".join(f"{e} is {engines[e]}" for e in ends)
        found.append((("endpoints",), f"{label} joins endpoints of different engines ({listed}); a topology links endpoints of one engine, use tasks for the others"))
    if topology.initial_sync_from is not None:
        if topology.type != "two-way":
            found.append((("initial_sync_from",), f"{label}: `initial_sync_from` applies only to two-way topologies"))
        elif topology.initial_sync_from not in ends:
            found.append((("initial_sync_from",), f"{label}: initial_sync_from `{topology.initial_sync_from}` is not one of its endpoints {ends}"))
    supporting = registry.engine_names(lambda engine: topology.type in engine.topologies)
    if len(kinds) == 1 and not kinds <= set(supporting):
        found.append((("endpoints",), f"{label}: {topology.type} synchronization is supported between {' or '.join(supporting)} endpoints, not {next(iter(kinds))}; use one-way tasks"))
    if topology.type == "two-way" and clusters & set(ends):
        found.append((("endpoints",), f"{label}: two-way synchronization needs standalone Redis endpoints ({', '.join(sorted(clusters & set(ends)))} is a cluster); pair each shard primary instead"))
    if isinstance(topology.status, dict):
        names = task_names(topology)
        for task_name in topology.status:
            if task_name not in names:
                found.append((("status", task_name), f"{label}: `status` names task `{task_name}`, which this topology does not have; its tasks are {', '.join(names)}"))
    if topology.type == "two-way":
        for index, selection in enumerate(topology.objects):
            renames = {"rename": selection.rename is not None, "table_rename": bool(selection.table_rename),
                       "collection_rename": bool(selection.collection_rename)}
            for key in [key for key, present in renames.items() if present][:1]:
                found.append(
                    (("objects", index, key), f"{label}: `{key}` is not allowed in a two-way topology: name mapping in the reverse direction causes inconsistency")
                )
    return found


def task_names(topology: Topology) -> list[str]:
    """The names of the tasks a topology expands into, in order."""
    ends = topology.endpoints
    if topology.type == "one-to-many":
        return list(ends[1:])
    if topology.type == "cascade":
        return [f"{ends[index]}_to_{ends[index + 1]}" for index in range(len(ends) - 1)]
    return ["forward", "reverse"] if topology.type == "two-way" else ["forward"]


def expand_topology(topology: Topology) -> list[TopologyTask]:
    """The tasks of a topology that passed `topology_problems`."""
    ends = topology.endpoints
    phases = list(topology.phases or ALL_PHASES)

    def task(name: str, source: str, destination: str, **changes: object) -> Task:
        fields: dict[str, object] = {
            "type": "synchronization",
            "source": source,
            "destination": destination,
            "phases": phases,
            "objects": topology.objects,
            "conflict_policy": topology.conflict_policy or (ConflictPolicy.IGNORE if topology.type == "two-way"
                                                            else ConflictPolicy.FAIL).value,
            "throttle": topology.throttle,
            "retry": topology.retry,
            "status": topology.status_of(name),
            "lifecycle": topology.lifecycle,
        }
        fields.update(changes)
        return Task.model_validate(fields)

    if topology.type == "one-way":
        return [TopologyTask("forward", task("forward", ends[0], ends[1]))]
    if topology.type == "one-to-many":
        return [TopologyTask(destination, task(destination, ends[0], destination)) for destination in ends[1:]]
    if topology.type == "cascade":
        links = []
        for index in range(len(ends) - 1):
            before = (links[-1].name,) if links else ()
            name = f"{ends[index]}_to_{ends[index + 1]}"
            links.append(TopologyTask(name, task(name, ends[index], ends[index + 1]), depends_on=before))
        return links
    first = topology.initial_sync_from or ends[0]
    second = ends[1] if first == ends[0] else ends[0]
    reverse_objects = [selection.model_copy(update={"ddl": False}) for selection in topology.objects]
    return [
        TopologyTask("forward", task("forward", first, second), peer="reverse"),
        TopologyTask("reverse", task("reverse", second, first, phases=["incremental"], objects=reverse_objects), depends_on=("forward",), peer="forward"),
    ]
