"""Which task reads what another task writes: the implicit order of a cascade (A → B → C).

A task whose source is another task's destination (the same endpoint, by
identity, and a database that task writes) is fed by it: apply starts the
upstream task first and waits until its schema phase has created the tables.
The two directions of a two-way pair read each other's destination by design
(each drops the other's writes), and a cutover's reverse task starts only once its
forward task has completed, so neither is ordered this way; any other cycle would
send every change round for ever and is refused.
"""

from __future__ import annotations

import dataclasses
import graphlib
from collections.abc import Mapping, Sequence
from typing import Any

from dtsctl.config.cutover import REVERSE_OF
from dtsctl.config.overlap import identity
from dtsctl.config.resources import DesiredResource

READS_DESTINATION = "reads its destination"


def with_upstream(resources: Sequence[DesiredResource]) -> list[DesiredResource]:
    """`resources` with `reads_from` set, and those tasks added to `depends_on` (created first,
    destroyed after)."""
    upstream = upstream_tasks(resources)
    placed = []
    for resource in resources:
        feeding = upstream.get(resource.address, ())
        depends_on = (*resource.depends_on, *(a for a in feeding if a not in resource.depends_on))
        placed.append(dataclasses.replace(resource, depends_on=depends_on, reads_from=feeding))
    return placed


def upstream_tasks(resources: Sequence[DesiredResource]) -> dict[str, tuple[str, ...]]:
    """address -> the tasks whose destination it reads, in declaration order."""
    writers: dict[tuple[Any, ...], list[DesiredResource]] = {}
    for resource in resources:
        destination = resource.attributes.get("destination_endpoint")
        if destination:
            for database in _written_databases(resource.attributes):
                writers.setdefault((identity(destination), database), []).append(resource)
    found: dict[str, tuple[str, ...]] = {}
    for reader in resources:
        source = identity(reader.attributes["source_endpoint"])
        feeding: list[str] = []
        for selection in reader.attributes["objects"]:
            for writer in writers.get((source, str(selection["database"])), ()):
                if writer.address != reader.address and not _peers(reader, writer) and writer.address not in feeding:
                    feeding.append(writer.address)
        if feeding:
            found[reader.address] = tuple(feeding)
    return found


def cycle_problems(resources: Sequence[DesiredResource]) -> list[tuple[DesiredResource, str]]:
    """(the first task of the cycle in declaration order, message) for every cycle of tasks that
    each read what the previous one writes."""
    by_address = {resource.address: resource for resource in resources}
    graph: dict[str, tuple[str, ...]] = {r.address: r.reads_from for r in resources if r.reads_from}
    found = []
    while (cycle := _a_cycle(graph)) is not None:
        first = min((by_address[a] for a in cycle), key=lambda r: (r.file, r.line, r.address))
        start = cycle.index(first.address)
        ring = [by_address[a] for a in [*cycle[start:], *cycle[:start]]]
        steps = ", then ".join(f"{r.address} ({r.attributes['source']} → {r.attributes['destination']})" for r in ring)
        found.append((first, (
            f"tasks replicate in a cycle: {steps}, then {first.address} again; each reads what the one before "
            "it writes, so every change would come back to where it was made. For two endpoints that replicate "
            "both ways declare a `two-way` topology; otherwise remove one of these tasks"
        )))
        graph = {a: tuple(d for d in deps if d not in cycle) for a, deps in graph.items() if a not in cycle}
    return found


def _a_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as [a, b, ...] where each feeds the next (and the last the first), or None."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        return list(err.args[1][:-1])
    return None


def _peers(first: DesiredResource, second: DesiredResource) -> bool:
    """The two directions of one two-way pair, or a task and the reverse task its cutover starts
    once it has completed (they never run together)."""
    topology = first.attributes.get("topology") or {}
    if topology.get("type") == "two-way" and topology.get("peer") == second.address:
        return True
    return first.attributes.get(REVERSE_OF) == second.address or second.attributes.get(REVERSE_OF) == first.address


def _written_databases(attributes: dict[str, Any]) -> list[str]:
    return [str(s["rename"] if s.get("rename") is not None else s["database"]) for s in attributes["objects"]]
