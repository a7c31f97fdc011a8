"""--target selection and the order in which changes are applied."""

from __future__ import annotations

import pytest

from dtsctl.errors import DtsError
from dtsctl.plan import make_plan
from dtsctl.state import State
from plan_factories import state_of, task


def addresses(plan):
    return [c.address for c in plan.changes]


def test_target_plans_only_that_address():
    plan = make_plan([task("task.a"), task("task.b")], State(), None, targets=["task.a"])
    assert addresses(plan) == ["task.a"]
    assert plan.targets == ["task.a"]


def test_target_includes_its_dependencies():
    desired = [task("task.base"), task("task.top", depends_on=("task.base",)), task("task.other")]
    plan = make_plan(desired, State(), None, targets=["task.top"])
    assert addresses(plan) == ["task.base", "task.top"]


def test_module_prefix_targets_everything_under_it():
    desired = [task("module.dr.task.copy"), task("module.dr.task.back"), task("module.drx.task.copy"), task("task.a")]
    plan = make_plan(desired, State(), None, targets=["module.dr"])
    assert addresses(plan) == ["module.dr.task.back", "module.dr.task.copy"]


def test_topology_prefix_targets_its_expanded_tasks():
    desired = [task("topology.geo.task.forward"), task("topology.geo.task.reverse"), task("task.a")]
    plan = make_plan(desired, State(), None, targets=["topology.geo"])
    assert addresses(plan) == ["topology.geo.task.forward", "topology.geo.task.reverse"]


def test_target_can_name_an_undeclared_recorded_resource():
    plan = make_plan([task("task.a")], state_of(task("task.a"), task("task.old")), None, targets=["task.old"])
    assert [(c.address, c.actions) for c in plan.changes] == [("task.old", ["delete"])]


def test_unknown_target_is_an_error():
    with pytest.raises(DtsError, match="target task.nope matches no declared or recorded resource"):
        make_plan([task("task.a")], State(), None, targets=["task.nope"])


def test_targeted_destroy_takes_dependents_too():
    base, top = task("task.base"), task("task.top", depends_on=("task.base",))
    plan = make_plan([base, top, task("task.c")], state_of(base, top, task("task.c")), None, targets=["task.base"], destroy=True)
    assert addresses(plan) == ["task.top", "task.base"]


def test_creates_follow_dependencies():
    desired = [task("task.c", depends_on=("task.b",)), task("task.b", depends_on=("task.a",)), task("task.a")]
    assert addresses(make_plan(desired, State(), None)) == ["task.a", "task.b", "task.c"]


def test_deletes_come_first_in_reverse_dependency_order():
    a, b = task("task.a"), task("task.b", depends_on=("task.a",))
    plan = make_plan([task("task.z")], state_of(a, b), None)
    assert [(c.address, c.actions) for c in plan.changes] == [
        ("task.b", ["delete"]), ("task.a", ["delete"]), ("task.z", ["create"])
    ]


def test_dependency_cycle_is_an_error():
    desired = [task("task.a", depends_on=("task.b",)), task("task.b", depends_on=("task.a",))]
    with pytest.raises(DtsError, match="cycle"):
        make_plan(desired, State(), None)
