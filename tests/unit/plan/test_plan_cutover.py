"""A declared cutover in the plan: its steps in order, the reverse task it creates, and what it refuses."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from dtsctl.config import load_workspace
from dtsctl.config.cutover import before_cutover
from dtsctl.errors import DtsError
from dtsctl.plan import make_plan, plan_to_json, render_plan
from dtsctl.state import State, new_recorded

GOLDEN = Path(__file__).parent / "golden" / "cutover_plan.txt"
DECLARATION = """
    endpoints:
      old: {engine: mysql, host: 10.0.0.5, port: 3306, user: dts, password: s3cret}
      new: {engine: mysql, host: 10.0.0.6, port: 3306, user: dts, password: s3cret}
    tasks:
      move:
        type: migration
        source: old
        destination: new
        objects: [{database: shop, all: true, rename: shop_v2, table_rename: {orders: orders_v2}}]
        %s
    """


def resources(tmp_path: Path, cutover: str = "") -> dict:
    (tmp_path / "main.dts.yaml").write_text(textwrap.dedent(DECLARATION % cutover))
    return {resource.address: resource for resource in load_workspace(tmp_path, environ={}).resources}


def recorded_before(resource) -> State:
    return State(serial=1, resources=[new_recorded(dataclasses.replace(resource, attributes=before_cutover(resource.attributes)))])


def test_the_plan_lists_the_cutover_steps_and_the_reverse_task_it_creates(tmp_path: Path) -> None:
    desired = resources(tmp_path, "cutover: {freeze_source: true, reverse: true, max_lag: 5}")
    plan = make_plan(list(desired.values()), recorded_before(desired["task.move"]), None)
    assert render_plan(plan) == GOLDEN.read_text()
    [change] = plan_to_json(plan)["resource_changes"]
    assert change["change"]["actions"] == ["cutover"]
    assert change["cutover"]["creates"] == "task.move_reverse"
    reverse = desired["task.move_reverse"].attributes
    assert (reverse["source"], reverse["destination"], reverse["phases"]) == ("new", "old", ["incremental"])
    assert reverse["objects"][0] | {} == {**reverse["objects"][0], "database": "shop_v2", "rename": "shop",
                                          "table_rename": {"orders_v2": "orders"}}
    assert "s3cret" not in json.dumps(plan_to_json(plan))


def test_a_new_task_with_a_cutover_is_created_first_and_cut_over_by_a_later_apply(tmp_path: Path) -> None:
    desired = resources(tmp_path, "cutover: {reverse: true}")
    plan = make_plan(list(desired.values()), State(), None)
    assert [(c.address, c.actions) for c in plan.changes] == [("task.move", ["create"])]


def test_a_cut_over_task_refuses_other_changes(tmp_path: Path) -> None:
    desired = resources(tmp_path, "cutover: {}")
    state = State(serial=1, resources=[new_recorded(desired["task.move"])])
    assert [c.actions for c in make_plan(list(desired.values()), state, None).changes] == [["no-op"]]
    changed = resources(tmp_path, "cutover: {}\n        throttle: {rps: 10}")
    with pytest.raises(DtsError, match="task.move was cut over and is completed; throttle.rps can no longer change"):
        make_plan(list(changed.values()), state, None)


def test_a_cutover_comes_alone(tmp_path: Path) -> None:
    desired = resources(tmp_path)
    state = recorded_before(desired["task.move"])
    changed = resources(tmp_path, "cutover: {}\n        throttle: {rps: 10}")
    with pytest.raises(DtsError, match="a cutover changes nothing else; apply the changes of throttle.rps first"):
        make_plan(list(changed.values()), state, None)


@pytest.mark.parametrize(("engine", "cutover", "problem"), [
    ("sqlite", "{}", "a sqlite source cannot stay frozen after the cutover; set `unfreeze_source: true`"),
    ("redis", "{}", "a redis source cannot stay frozen after the cutover; set `unfreeze_source: true`"),
])
def test_a_freeze_the_engine_cannot_hold_is_refused(tmp_path: Path, engine: str, cutover: str, problem: str) -> None:
    where = "path: ./a.db" if engine == "sqlite" else "host: 10.0.0.5"
    (tmp_path / "main.dts.yaml").write_text(textwrap.dedent(f"""
        endpoints:
          a: {{engine: {engine}, {where}}}
          b: {{engine: {engine}, {where.replace('a.db', 'b.db').replace('.5', '.6')}}}
        tasks:
          move: {{type: synchronization, source: a, destination: b, objects: [{{database: {'main, all: true' if engine == 'sqlite' else 0}}}], cutover: {cutover}}}
        """))
    with pytest.raises(Exception) as failure:
        load_workspace(tmp_path, environ={})
    assert problem in str(getattr(failure.value, "problems", failure.value))
