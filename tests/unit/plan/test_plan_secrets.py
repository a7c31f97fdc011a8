"""A password never appears in clear text in any artefact of state and plan: grep the bytes."""

from __future__ import annotations

import json

from dtsctl.plan import Observation, make_plan, plan_to_json, render_plan, save_plan
from dtsctl.state import StateFile, new_recorded
from plan_factories import DESTINATION_PASSWORD, SOURCE_PASSWORD, task, with_endpoint

ROTATED = "Rotated-Secret-31337"


def test_password_absent_from_state_plan_text_json_and_saved_plan(tmp_path):
    state_file = StateFile(tmp_path / "state" / "dtsctl.state.json")
    state = state_file.read()
    for resource in (task("task.a"), task("task.b"), task("task.c")):
        state.put(new_recorded(resource))
    state_file.write(state)
    state_file.write(state)  # a second write, so the backup holds a full state too

    desired = [
        task("task.a", **with_endpoint("source_endpoint", password=ROTATED)),  # update of a secret
        task("task.b", source="hz"),  # replacement
        task("task.d"),  # creation
    ]  # task.c: deletion
    observed = {"task.a": Observation("task.a", False, "agent is not running")}
    plan = make_plan(desired, state_file.read(), observed)
    plan_path = tmp_path / "saved.plan"
    save_plan(plan_path, plan, desired=desired, variables={"region": "bj"})

    artefacts = {
        "state": state_file.path.read_bytes(),
        "backup": state_file.backup_path.read_bytes(),
        "text": render_plan(plan).encode(),
        "json": json.dumps(plan_to_json(plan)).encode(),
        "saved plan": plan_path.read_bytes(),
    }
    assert {c.address: c.actions for c in plan.changes} == {
        "task.a": ["update"], "task.b": ["delete", "create"], "task.c": ["delete"], "task.d": ["create"]
    }
    for name, data in artefacts.items():
        for secret in (SOURCE_PASSWORD, DESTINATION_PASSWORD, ROTATED):
            assert secret.encode() not in data, f"{secret} found in the {name}"
