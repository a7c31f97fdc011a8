"""Saved plans: round trip, no secrets, and refusal when stale or out of date."""

from __future__ import annotations

import json
import stat

import pytest

from dtsctl.errors import DtsError
from dtsctl.plan import check_saved_plan, fingerprint, load_plan, make_plan, save_plan
from dtsctl.state import State
from plan_factories import DESTINATION_PASSWORD, SOURCE_PASSWORD, state_of, task, with_endpoint


@pytest.fixture
def planned(tmp_path):
    """A plan that creates one task and updates another, saved to disk."""
    state = state_of(task("task.a"), serial=5)
    desired = [task("task.a", conflict_policy="ignore"), task("task.b")]
    plan = make_plan(desired, state, None)
    path = tmp_path / "tfplan.json"
    save_plan(path, plan, desired=desired, variables={"region": "bj"})
    return path, plan, state, desired


def test_saved_plan_round_trips(planned):
    path, plan, _, _ = planned
    saved = load_plan(path)
    assert saved.plan == plan
    assert saved.variables == {"region": "bj"}
    assert set(saved.fingerprints) == {"task.a", "task.b"}


def test_saved_plan_is_private_and_holds_no_secret(planned):
    path, _, _, _ = planned
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert SOURCE_PASSWORD.encode() not in data
    assert DESTINATION_PASSWORD.encode() not in data


def test_current_plan_passes_the_check(planned):
    path, _, state, desired = planned
    check_saved_plan(load_plan(path), state, desired)


def test_plan_is_stale_when_serial_moved(planned):
    path, _, state, desired = planned
    state.serial += 1
    with pytest.raises(DtsError, match=r"saved plan is stale: the state changed since it was made \(serial 5, now 6\)"):
        check_saved_plan(load_plan(path), state, desired)


def test_plan_is_stale_for_another_lineage(planned):
    path, _, state, desired = planned
    other = State(serial=state.serial, resources=state.resources)
    with pytest.raises(DtsError, match="saved plan is stale: it was made for another state"):
        check_saved_plan(load_plan(path), other, desired)


def test_changed_declaration_is_refused(planned):
    path, _, state, desired = planned
    changed = [task("task.a", conflict_policy="overwrite"), desired[1]]
    with pytest.raises(DtsError, match="saved plan does not match the declaration any more: task.a changed"):
        check_saved_plan(load_plan(path), state, changed)


def test_changed_password_is_refused(planned):
    path, _, state, desired = planned
    changed = [desired[0], task("task.b", **with_endpoint("source_endpoint", password="another-pw"))]
    with pytest.raises(DtsError, match="task.b changed"):
        check_saved_plan(load_plan(path), state, changed)


def test_newly_declared_resource_is_refused(planned):
    path, _, state, desired = planned
    with pytest.raises(DtsError, match="task.c is new"):
        check_saved_plan(load_plan(path), state, [*desired, task("task.c")])


def test_removed_declaration_is_refused(planned):
    path, _, state, desired = planned
    with pytest.raises(DtsError, match="task.b is no longer declared"):
        check_saved_plan(load_plan(path), state, desired[:1])


def test_fingerprint_depends_on_salt_and_attributes():
    assert fingerprint(task(), "salt-1") == fingerprint(task(), "salt-1")
    assert fingerprint(task(), "salt-1") != fingerprint(task(), "salt-2")
    assert fingerprint(task(), "salt-1") != fingerprint(task(status="paused"), "salt-1")


def test_loading_a_file_that_is_not_a_plan_is_an_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DtsError, match="is not a dtsctl saved plan"):
        load_plan(path)


def test_loading_garbage_is_an_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(DtsError, match="cannot read saved plan"):
        load_plan(path)


def test_loading_a_missing_plan_is_an_error(tmp_path):
    with pytest.raises(DtsError, match="does not exist"):
        load_plan(tmp_path / "nope.json")
