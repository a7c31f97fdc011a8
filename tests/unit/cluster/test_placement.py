"""Placement: the node with the most free slots takes an unowned task; another waits one TTL."""

from __future__ import annotations

import time

from dtsctl.cluster.keys import TaskEntries
from dtsctl.cluster.node import Node
from dtsctl.cluster.store import Entry


def node(name: str, slots: int = 2) -> Node:
    made = Node.__new__(Node)  # placement reads only these; no store or directory needed
    made.name, made.slots, made.ttl, made.owned, made.unowned_since = name, slots, 10, {}, {}
    return made


def nodes(**slots: int) -> dict[str, Entry]:
    return {name: Entry(f"/n/{name}", {"slots": count}, 1, 1, 1) for name, count in slots.items()}


def task(address: str, owner: str | None = None, desired: str = "running") -> TaskEntries:
    entries = TaskEntries(address, {"desired": Entry("d", {"desired": desired}, 1, 1, 0)})
    if owner:
        entries.parts["owner"] = Entry("o", {"node": owner}, 1, 1, 1)
    return entries


def test_the_node_with_most_free_slots_takes_the_task_and_the_others_wait_one_ttl() -> None:
    tasks = {"t1": task("t1", owner="a"), "t2": task("t2")}
    live = nodes(a=2, b=2, c=2)
    assert node("b")._placed_here(tasks["t2"], tasks, live)  # a has one task: b and c tie, b comes first
    waiting = node("c")
    assert not waiting._placed_here(tasks["t2"], tasks, live)
    waiting.unowned_since["t2"] -= 11  # one TTL later, b has not taken it
    assert waiting._placed_here(tasks["t2"], tasks, live)


def test_a_full_node_takes_nothing_but_a_task_to_tear_down() -> None:
    tasks = {"t1": task("t1", owner="a"), "t2": task("t2"), "t3": task("t3", desired="deleted")}
    full = node("a", slots=1)
    live = nodes(a=1)
    full.unowned_since = {"t2": time.monotonic() - 60}
    assert not full._placed_here(tasks["t2"], tasks, live)
    assert full._placed_here(tasks["t3"], tasks, live)
