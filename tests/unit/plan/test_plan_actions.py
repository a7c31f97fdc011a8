"""make_plan: one action per resource, with reasons that name the attribute paths."""

from __future__ import annotations

import pytest

from dtsctl.errors import DtsError
from dtsctl.plan import Observation, make_plan
from dtsctl.state import State
from plan_factories import state_of, task, with_endpoint


def only_change(plan):
    assert len(plan.changes) == 1
    return plan.changes[0]


def test_undeclared_in_state_is_created():
    change = only_change(make_plan([task()], State(), None))
    assert change.actions == ["create"]
    assert change.before is None
    assert change.after["conflict_policy"] == "fail"
    assert change.action_reason is None


def test_unchanged_resource_is_no_op():
    change = only_change(make_plan([task()], state_of(task()), None))
    assert change.actions == ["no-op"]
    assert change.changed_paths == []


OBJECT = task().attributes["objects"][0]


@pytest.mark.parametrize(
    ("overrides", "paths"),
    [
        ({"objects": [{**OBJECT, "all": True, "tables": None}]}, ["objects[0].all", "objects[0].tables"]),
        ({"objects": [OBJECT, {**OBJECT, "database": "crm"}]}, ["objects[1]"]),
        ({"objects": [{**OBJECT, "filter": {"orders": "amount > 10"}}]}, ["objects[0].filter.orders"]),
        ({"throttle": {"rps": 500.0, "mbps": 0.0}}, ["throttle.rps"]),
        ({"conflict_policy": "overwrite"}, ["conflict_policy"]),
        (with_endpoint("source_endpoint", password="rotated-pw"), ["source_endpoint.password"]),
        (with_endpoint("destination_endpoint", user="dts2"), ["destination_endpoint.user"]),
        ({"retry": {"connection_minutes": 60.0, "other_minutes": 10.0}}, ["retry.connection_minutes"]),
        ({"status": "paused"}, ["status"]),
    ],
)
def test_in_place_attribute_change_is_update_naming_the_path(overrides, paths):
    change = only_change(make_plan([task(**overrides)], state_of(task()), None))
    assert change.actions == ["update"]
    assert sorted(change.changed_paths) == paths
    assert change.replace_paths == []
    assert sorted(change.reasons) == [f"`{path}` changed" for path in paths]


def test_integer_and_float_of_same_value_are_no_change():
    change = only_change(make_plan([task(throttle={"rps": 0, "mbps": 0})], state_of(task()), None))
    assert change.actions == ["no-op"]


def test_table_list_change_is_reported_as_the_whole_list():
    objects = [{**task().attributes["objects"][0], "tables": ["orders", "items"]}]
    change = only_change(make_plan([task(objects=objects)], state_of(task()), None))
    assert change.changed_paths == ["objects[0].tables"]
    [item] = change.attribute_changes
    assert item["before"] == ["orders", "customers"] and item["after"] == ["orders", "items"]


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"source": "hz"}, "source"),
        ({"destination": "gz"}, "destination"),
        ({"type": "migration"}, "type"),
        ({"phases": ["full", "incremental"]}, "phases"),
        (with_endpoint("source_endpoint", host="10.0.0.9"), "source_endpoint.host"),
        (with_endpoint("destination_endpoint", port=3310), "destination_endpoint.port"),
        (with_endpoint("source_endpoint", engine="sqlite", host=None, port=None, path="/data/x.db"), "source_endpoint.path"),
    ],
)
def test_identity_change_forces_replacement(overrides, path):
    change = only_change(make_plan([task(**overrides)], state_of(task()), None))
    assert change.actions == ["delete", "create"]
    assert change.action_reason == "replace_because_cannot_update"
    assert path in change.replace_paths
    assert f"`{path}` changed, which forces replacement" in change.reasons


SENTINEL = {"hosts": ["10.0.0.7:26379", "10.0.0.8:26379"], "master": "mymaster", "password": "sentinel-pw"}


def sentinel_task(**changes):
    return task(**with_endpoint("source_endpoint", engine="redis", host=None, port=None,
                                sentinel={**SENTINEL, **changes}))


@pytest.mark.parametrize(
    ("changes", "path", "replaced"),
    [
        ({"hosts": [*SENTINEL["hosts"], "10.0.0.9:26379"]}, "source_endpoint.sentinel.hosts", False),
        ({"password": "rotated"}, "source_endpoint.sentinel.password", False),
        ({"master": "othermaster"}, "source_endpoint.sentinel.master", True),
    ],
)
def test_a_sentinel_set_changes_in_place_and_another_master_name_replaces(changes, path, replaced):
    change = only_change(make_plan([sentinel_task(**changes)], state_of(sentinel_task()), None))
    assert change.changed_paths == [path]
    assert change.actions == (["delete", "create"] if replaced else ["update"])
    assert change.replace_paths == ([path] if replaced else [])


def test_replace_marks_only_identity_paths_as_forcing():
    desired = task(source="hz", conflict_policy="ignore")
    change = only_change(make_plan([desired], state_of(task()), None))
    assert change.replace_paths == ["source"]
    assert set(change.changed_paths) == {"source", "conflict_policy"}


def test_recorded_but_undeclared_is_deleted():
    change = only_change(make_plan([], state_of(task()), None))
    assert change.actions == ["delete"]
    assert change.after is None
    assert change.reasons == ["no longer in the declaration"]
    assert change.action_reason == "delete_because_no_resource_config"


def test_unhealthy_agent_is_drift_with_a_restarting_update():
    observed = {"task.orders_sync": Observation("task.orders_sync", False, "task failed: access denied")}
    plan = make_plan([task()], state_of(task()), observed)
    change = only_change(plan)
    assert change.actions == ["update"]
    assert change.drift is True
    assert change.action_reason == "update_because_agent_unhealthy"
    assert "task failed: access denied; apply restarts the agent" in change.reasons
    assert plan.drift == [{"address": "task.orders_sync", "reason": "task failed: access denied"}]


def test_healthy_observation_is_not_drift():
    observed = {"task.orders_sync": Observation("task.orders_sync", True, None)}
    plan = make_plan([task()], state_of(task()), observed)
    assert only_change(plan).actions == ["no-op"]
    assert plan.drift == []


def test_drift_keeps_a_replacement_a_replacement():
    observed = {"task.orders_sync": Observation("task.orders_sync", False, "agent is not running")}
    change = only_change(make_plan([task(source="hz")], state_of(task()), observed))
    assert change.actions == ["delete", "create"]
    assert change.drift is True


def test_drift_on_a_resource_being_deleted_is_not_reported():
    observed = {"task.orders_sync": Observation("task.orders_sync", False, "agent is not running")}
    plan = make_plan([], state_of(task()), observed)
    assert only_change(plan).actions == ["delete"]
    assert plan.drift == []


def test_destroy_deletes_every_recorded_resource_and_ignores_unrecorded():
    plan = make_plan([task("task.a"), task("task.b"), task("task.new")], state_of(task("task.a"), task("task.b")), None, destroy=True)
    assert {c.address: c.actions for c in plan.changes} == {"task.a": ["delete"], "task.b": ["delete"]}
    assert plan.destroy is True


def test_prevent_destroy_refuses_delete_of_undeclared():
    recorded = task(lifecycle={"prevent_destroy": True})
    with pytest.raises(DtsError, match=r"task.orders_sync has lifecycle.prevent_destroy set; set it to false first"):
        make_plan([], state_of(recorded), None)


def test_prevent_destroy_refuses_replacement():
    desired = task(source="hz", lifecycle={"prevent_destroy": True})
    with pytest.raises(DtsError, match="prevent_destroy"):
        make_plan([desired], state_of(task()), None)


def test_prevent_destroy_refuses_destroy():
    protected = task(lifecycle={"prevent_destroy": True})
    with pytest.raises(DtsError, match="prevent_destroy"):
        make_plan([protected], state_of(protected), None, destroy=True)


def test_prevent_destroy_allows_in_place_update():
    protected = task(lifecycle={"prevent_destroy": True})
    change = only_change(make_plan([task(lifecycle={"prevent_destroy": True}, conflict_policy="ignore")], state_of(protected), None))
    assert change.actions == ["update"]


def test_summary_counts_replace_as_add_and_destroy():
    state = state_of(task("task.same"), task("task.upd"), task("task.rep"), task("task.gone"))
    desired = [task("task.same"), task("task.upd", status="paused"), task("task.rep", source="hz"), task("task.new")]
    plan = make_plan(desired, state, None)
    assert plan.summary == {"add": 2, "change": 1, "destroy": 2}
    assert plan.has_changes


def test_plan_records_state_lineage_and_serial():
    state = state_of(task(), serial=7)
    plan = make_plan([task()], state, None)
    assert (plan.lineage, plan.serial) == (state.lineage, 7)
    assert not plan.has_changes


def test_resource_declared_twice_is_an_error():
    with pytest.raises(DtsError, match="declared twice"):
        make_plan([task(), task()], State(), None)
