"""The human plan text and the --json document."""

from __future__ import annotations

import dataclasses
import json

from dtsctl.plan import Observation, make_plan, plan_to_json, render_plan
from dtsctl.state import State
from plan_factories import DESTINATION_PASSWORD, SOURCE_PASSWORD, state_of, task, with_endpoint


def test_json_plan_has_exactly_the_contract_shape():
    document = plan_to_json(make_plan([task()], State(), None))
    assert list(document) == ["format_version", "resource_changes", "drift", "summary"]
    assert document["format_version"] == "1"
    [entry] = document["resource_changes"]
    # the contract's keys, plus one additive field: the tasks it is ordered after (none here)
    assert set(entry) == {"address", "type", "name", "change", "action_reason", "reads_destination_of"}
    assert entry["reads_destination_of"] == []
    assert (entry["address"], entry["type"], entry["name"]) == ("task.orders_sync", "task", "orders_sync")
    assert set(entry["change"]) == {"actions", "before", "after"}
    assert entry["change"]["actions"] == ["create"]
    assert entry["change"]["before"] is None
    assert entry["action_reason"] is None
    assert document["drift"] == []
    assert document["summary"] == {"add": 1, "change": 0, "destroy": 0}
    json.dumps(document)  # serialisable as is


def test_json_plan_includes_no_op_resources():
    document = plan_to_json(make_plan([task()], state_of(task()), None))
    assert [c["change"]["actions"] for c in document["resource_changes"]] == [["no-op"]]


def test_json_plan_lists_drift():
    observed = {"task.orders_sync": Observation("task.orders_sync", False, "agent is not running")}
    document = plan_to_json(make_plan([task()], state_of(task()), observed))
    assert document["drift"] == [{"address": "task.orders_sync", "reason": "agent is not running"}]
    assert document["summary"] == {"add": 0, "change": 1, "destroy": 0}


def test_json_plan_shows_secrets_as_sensitive_value():
    document = plan_to_json(make_plan([task(**with_endpoint("source_endpoint", password="new-Secret-9"))], state_of(task()), None))
    change = document["resource_changes"][0]["change"]
    assert change["before"]["source_endpoint"]["password"] == "(sensitive value)"
    assert change["after"]["source_endpoint"]["password"] == "(sensitive value)"
    text = json.dumps(document)
    assert SOURCE_PASSWORD not in text and "new-Secret-9" not in text and "pbkdf2" not in text


def test_render_create_lists_attributes_and_closing_line():
    text = render_plan(make_plan([task()], State(), None))
    assert "  # task.orders_sync will be created\n" in text
    assert "  + task.orders_sync {\n" in text
    assert '+ conflict_policy = "fail"' in text
    assert "+ password = (sensitive value)" in text
    assert text.rstrip("\n").splitlines()[-1] == "Plan: 1 to add, 0 to change, 0 to destroy."


def test_render_update_shows_old_and_new_values():
    text = render_plan(make_plan([task(conflict_policy="overwrite")], state_of(task()), None))
    assert "  # task.orders_sync will be updated in place\n" in text
    assert "  ~ task.orders_sync {\n" in text
    assert '~ conflict_policy = "fail" -> "overwrite"' in text
    assert text.endswith("Plan: 0 to add, 1 to change, 0 to destroy.\n")


def test_render_replace_marks_forcing_attributes():
    text = render_plan(make_plan([task(phases=["full", "incremental"], status="paused")], state_of(task()), None))
    assert "  # task.orders_sync must be replaced\n" in text
    assert "-/+ task.orders_sync {\n" in text
    assert '~ phases = ["schema", "full", "incremental"] -> ["full", "incremental"] # forces replacement' in text
    assert '~ status = "running" -> "paused"\n' in text
    assert text.endswith("Plan: 1 to add, 0 to change, 1 to destroy.\n")


def test_render_changed_password_as_sensitive_value():
    text = render_plan(make_plan([task(**with_endpoint("destination_endpoint", password="rotated-7"))], state_of(task()), None))
    assert "~ destination_endpoint.password = (sensitive value) -> (sensitive value)" in text


def test_render_destroy_with_reason():
    text = render_plan(make_plan([], state_of(task()), None))
    assert "  # task.orders_sync will be destroyed\n  # (no longer in the declaration)\n" in text
    assert "  - task.orders_sync {\n" in text
    assert text.endswith("Plan: 0 to add, 0 to change, 1 to destroy.\n")


def test_render_drift_section_comes_first():
    observed = {"task.orders_sync": Observation("task.orders_sync", False, "task failed: binlog purged")}
    text = render_plan(make_plan([task()], state_of(task()), observed))
    assert text.startswith("Note: objects have changed outside of dtsctl\n\n  # task.orders_sync: task failed: binlog purged\n")
    assert "  # (task failed: binlog purged; apply restarts the agent)" in text
    assert text.endswith("Plan: 0 to add, 1 to change, 0 to destroy.\n")


def test_render_no_changes():
    assert render_plan(make_plan([task()], state_of(task()), None)) == "No changes. Your replication matches the declaration.\n"


def test_render_never_contains_a_password():
    plans = [
        make_plan([task()], State(), None),
        make_plan([task(**with_endpoint("source_endpoint", password="rotated-pw-1"))], state_of(task()), None),
        make_plan([task(source="hz")], state_of(task()), None),
        make_plan([], state_of(task()), None),
    ]
    for plan in plans:
        text = render_plan(plan)
        for secret in (SOURCE_PASSWORD, DESTINATION_PASSWORD, "rotated-pw-1", "pbkdf2"):
            assert secret not in text


def test_plan_shows_that_a_task_runs_after_the_task_whose_destination_it_reads():
    upstream = task("task.to_b")
    downstream = dataclasses.replace(task("task.to_c"), depends_on=("task.to_b",), reads_from=("task.to_b",))
    plan = make_plan([downstream, upstream], State(), None)
    assert [c.address for c in plan.changes] == ["task.to_b", "task.to_c"]
    text = render_plan(plan)
    assert "  # task.to_c will be created\n  # after task.to_b (reads its destination)\n  + task.to_c {\n" in text
    assert "# after" not in text.split("# task.to_c")[0]
    entries = {e["address"]: e for e in plan_to_json(plan)["resource_changes"]}
    assert entries["task.to_c"]["reads_destination_of"] == ["task.to_b"]
    assert entries["task.to_b"]["reads_destination_of"] == []
