"""A declared cutover: the steps a plan shows, and the reverse task `reverse: true` asks for.

The reverse task (destination -> old source, incremental only) is declared by its forward task
(address `<forward>_reverse`), so plans and destroy see it like any task; the cutover creates it
at the switch (dtsctl.orchestrate.cutover).
"""

from __future__ import annotations

from typing import Any

from dtsctl import registry
from dtsctl.config.model import Cutover, ObjectSelection, Task
from dtsctl.engine.plugin import EngineSpec

CUTOVER_ATTRIBUTE = "cutover"
SUFFIX = "_reverse"
REVERSE_OF = "reverse_of"  # attribute naming the forward task's address


def reverse_task(task: Task) -> Task:
    """Source and destination swapped, objects under the destination's names mapped back, changes only."""
    assert task.destination is not None
    return Task(type="synchronization", source=task.destination, destination=task.source, phases=["incremental"],
                objects=[_reverse_selection(selection) for selection in task.objects],
                conflict_policy=task.conflict_policy, throttle=task.throttle, retry=task.retry)


def _reverse_selection(selection: ObjectSelection) -> ObjectSelection:
    """The destination's side of a selection; filters stay with the forward task (the new primary's
    rows are all the application's)."""
    renamed = {new: old for old, new in selection.table_rename.items()}
    tables = None if selection.tables is None else [selection.table_rename.get(name, name) for name in selection.tables]
    return ObjectSelection(
        database=selection.rename if selection.rename is not None else selection.database,
        tables=tables, all=selection.all,
        rename=selection.database if selection.rename is not None else None,
        table_rename=renamed, dml=selection.dml, ddl=selection.ddl, key_prefixes=selection.key_prefixes,
        collections=selection.collections)


def cutover_pending(declared: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """A task is recorded with `cutover` once its cutover is done; until then a declared one is pending."""
    return CUTOVER_ATTRIBUTE in declared and CUTOVER_ATTRIBUTE not in recorded


def before_cutover(attributes: dict[str, Any]) -> dict[str, Any]:
    """A task's attributes as recorded until its cutover is done."""
    return {name: value for name, value in attributes.items() if name != CUTOVER_ATTRIBUTE}


def freeze_problem(cutover: Cutover, engine: EngineSpec) -> str | None:
    """Why the source cannot be frozen as declared, or None."""
    if not cutover.freeze_source:
        return None
    if engine.freeze is None:
        return (f"dtsctl cannot freeze writes on a {engine.name} source; stop the application's writes "
                "yourself and set `freeze_source: false`")
    if not engine.freeze_lasts and not cutover.unfreeze_source:
        return (f"a {engine.name} source cannot stay frozen after the cutover; set `unfreeze_source: true` "
                "(the freeze then lasts from the drain to the end of the cutover)")
    return None


def cutover_steps(attributes: dict[str, Any], reverse: str | None) -> list[str]:
    """What apply will do, in order, for a task whose declaration adds `cutover` (`reverse`: the
    reverse task's address when one is created)."""
    cutover = Cutover.model_validate(attributes["cutover"])
    engine = attributes["source_endpoint"]["engine"]
    source, destination = attributes["source"], attributes["destination"]
    steps = [f"precheck: the task is in incremental with lag under {cutover.max_lag:g}s"]
    if cutover.verify:
        steps.append(f"verify {source} against {destination} while replication runs, then the rows changed "
                     "meanwhile until few are left: must be equal, else stop")
    if cutover.freeze_source:
        steps.append(f"freeze writes on {source}: {registry.engine(engine).freeze}")
    steps += [f"record {source}'s final position",
              "wait until the applier has applied exactly up to that position"]
    if cutover.verify:
        steps.append(f"verify the rows changed since the last verify: must be equal, else unfreeze {source} "
                     "and stop")
    steps.append("mark the task completed (write downtime: freeze to here)")
    if reverse:
        steps.append(f"create {reverse}: {destination} -> {source}, incremental from {destination}'s position "
                     "at the switch")
    if cutover.freeze_source:
        steps.append(f"unfreeze {source}" if cutover.unfreeze_source else f"leave {source} frozen "
                     f"(the application writes to {destination} now)")
    return steps
