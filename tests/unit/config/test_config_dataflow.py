"""A task that reads another task's destination is ordered after it; other cycles are refused."""

from __future__ import annotations

ENDPOINTS = """
endpoints:
  a: {engine: mysql, host: a}
  b: {engine: mysql, host: b}
  c: {engine: mysql, host: c}
  b_again: {engine: mysql, host: b}
"""


def _task(name: str, source: str, destination: str, objects: str = "[{database: app, all: true}]") -> str:
    return (f"  {name}:\n    type: synchronization\n    source: {source}\n    destination: {destination}\n"
            f"    objects: {objects}\n")


def test_a_task_reading_another_tasks_destination_runs_after_it(write, load) -> None:
    root = write({"main.dts.yaml": ENDPOINTS + "tasks:\n" + _task("to_c", "b_again", "c") + _task("to_b", "a", "b")})
    tasks = {t.address: t for t in load(root).resources}
    assert tasks["task.to_c"].reads_from == ("task.to_b",)
    assert tasks["task.to_c"].depends_on == ("task.to_b",)  # created first, destroyed after
    assert tasks["task.to_b"].reads_from == ()


def test_another_database_on_the_same_endpoint_is_no_dependency(write, load) -> None:
    root = write({"main.dts.yaml": ENDPOINTS + "tasks:\n" + _task("to_b", "a", "b")
                  + _task("to_c", "b", "c", "[{database: other, all: true}]")})
    assert all(t.reads_from == () for t in load(root).resources)


def test_a_renamed_database_is_read_under_its_new_name(write, load) -> None:
    root = write({"main.dts.yaml": ENDPOINTS + "tasks:\n" + _task("to_b", "a", "b", "[{database: app, all: true, rename: copy}]")
                  + _task("to_c", "b", "c", "[{database: copy, all: true}]")})
    tasks = {t.address: t for t in load(root).resources}
    assert tasks["task.to_c"].reads_from == ("task.to_b",)


def test_a_pair_plus_cascade_orders_the_cascade_after_the_forward_direction_only(write, load) -> None:
    pair = ("topologies:\n  geo:\n    type: two-way\n    endpoints: [a, b]\n    initial_sync_from: a\n"
            "    objects: [{database: app, all: true}]\n")
    root = write({"main.dts.yaml": ENDPOINTS + pair + "tasks:\n" + _task("to_c", "b", "c")})
    tasks = {t.address: t for t in load(root).resources}
    assert tasks["task.to_c"].reads_from == ("topology.geo.task.forward",)
    assert tasks["topology.geo.task.reverse"].reads_from == ()  # its peer: not a dependency
    assert tasks["topology.geo.task.forward"].reads_from == ()


def test_a_cycle_of_one_way_tasks_is_reported_at_its_first_task(write, problems) -> None:
    root = write({"main.dts.yaml": ENDPOINTS + "tasks:\n" + _task("ab", "a", "b") + _task("bc", "b", "c")
                  + _task("ca", "c", "a")})
    assert problems(root) == [
        "main.dts.yaml:7: tasks replicate in a cycle: task.ab (a → b), then task.bc (b → c), then task.ca (c → a), "
        "then task.ab again; each reads what the one before it writes, so every change would come back to where "
        "it was made. For two endpoints that replicate both ways declare a `two-way` topology; otherwise remove "
        "one of these tasks"
    ]
