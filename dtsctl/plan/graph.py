"""Which addresses a plan covers (`--target`) and in what order they are applied."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence

from dtsctl.errors import DtsError


def matches(target: str, address: str) -> bool:
    """`module.dr` targets `module.dr.task.copy`; `task.a` targets only itself."""
    return address == target or address.startswith(target + ".")


def select_targets(
    targets: Sequence[str], addresses: Iterable[str], depends_on: Mapping[str, Sequence[str]], *, destroy: bool
) -> set[str]:
    """The targeted addresses plus what they need: their dependencies, or when
    destroying, the resources that depend on them (those must go first)."""
    known = set(addresses)
    selected: set[str] = set()
    for target in targets:
        hits = {address for address in known if matches(target, address)}
        if not hits:
            raise DtsError(
                f"target {target} matches no declared or recorded resource; check the address with `dtsctl state list`"
            )
        selected |= hits
    edges = _reverse(depends_on) if destroy else depends_on
    pending = list(selected)
    while pending:
        for neighbour in edges.get(pending.pop(), ()):
            if neighbour in known and neighbour not in selected:
                selected.add(neighbour)
                pending.append(neighbour)
    return selected


def dependency_order(addresses: Iterable[str], depends_on: Mapping[str, Sequence[str]]) -> list[str]:
    """`addresses` with each after the ones it depends on; ties broken by address for stable output."""
    nodes = set(addresses)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for address in nodes:
        sorter.add(address, *(d for d in depends_on.get(address, ()) if d in nodes))
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        cycle = " -> ".join(err.args[1])
        raise DtsError(f"resources depend on each other in a cycle ({cycle}); remove one of the dependencies") from err
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(ready)
        sorter.done(*ready)
    return ordered


def _reverse(depends_on: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    dependents: dict[str, list[str]] = {}
    for address, needs in depends_on.items():
        for need in needs:
            dependents.setdefault(need, []).append(address)
    return dependents
