"""Recorded resources: secrets hashed with a per-resource salt; put/get/remove by address."""

from __future__ import annotations

import json

from dtsctl.config.resources import DesiredResource
from dtsctl.state import RecordedResource, State, hash_secret, new_recorded, record_attributes


def resource(address: str = "task.a", **attributes) -> DesiredResource:
    return DesiredResource(
        address=address, type="task", name=address.rsplit(".", 1)[-1],
        attributes={"source_endpoint": {"host": "db1", "password": "pw-1"}, **attributes},
        sensitive_paths=frozenset({("source_endpoint", "password")}),
    )


def test_new_recorded_hashes_secrets_and_keeps_the_rest():
    recorded = new_recorded(resource(status="running"), task_id="tid")
    assert recorded.task_id == "tid"
    assert recorded.attributes["status"] == "running"
    assert recorded.attributes["source_endpoint"]["host"] == "db1"
    assert recorded.attributes["source_endpoint"]["password"] == {"sensitive": hash_secret("pw-1", recorded.salt)}
    assert recorded.sensitive_paths == [["source_endpoint", "password"]]


def test_new_recorded_uses_fresh_salt_and_task_id():
    one, two = new_recorded(resource()), new_recorded(resource())
    assert one.salt != two.salt
    assert one.task_id != two.task_id
    assert one.attributes != two.attributes


def test_any_password_field_is_hashed_even_if_not_declared_sensitive():
    recorded = record_attributes({"destination_endpoint": {"password": "pw-2"}, "n": [{"password": "x"}]}, [], "salt")
    assert recorded["destination_endpoint"]["password"] == {"sensitive": hash_secret("pw-2", "salt")}
    assert recorded["n"][0]["password"] == {"sensitive": hash_secret("x", "salt")}


def test_declared_sensitive_path_of_any_name_is_hashed():
    recorded = record_attributes({"objects": [{"filter": {"t": "token = 'abc'"}}]}, [("objects", 0, "filter", "t")], "s")
    assert recorded["objects"][0]["filter"]["t"] == {"sensitive": hash_secret("token = 'abc'", "s")}


def test_null_password_is_left_null():
    assert record_attributes({"password": None}, [], "s") == {"password": None}


def test_hash_differs_by_value_and_salt():
    assert hash_secret("a", "s1") == hash_secret("a", "s1")
    assert hash_secret("a", "s1") != hash_secret("b", "s1")
    assert hash_secret("a", "s1") != hash_secret("a", "s2")
    assert hash_secret("a", "s1").startswith("pbkdf2-sha256:")


def test_put_replaces_by_address_and_remove_forgets():
    state = State()
    first, replacement, other = new_recorded(resource()), new_recorded(resource(status="paused")), new_recorded(resource("task.b"))
    state.put(first)
    state.put(other)
    state.put(replacement)
    assert state.resources == [replacement, other]
    assert state.get("task.a") is replacement
    state.remove("task.a")
    assert state.get("task.a") is None
    assert [r.address for r in state.resources] == ["task.b"]


def test_recorded_resource_json_round_trip():
    recorded = new_recorded(resource())
    assert RecordedResource.from_json(recorded.to_json()) == recorded


def test_display_attributes_hide_secrets_as_sensitive_value():
    recorded = new_recorded(resource(status="running"))
    shown = recorded.display_attributes()
    assert shown["source_endpoint"] == {"host": "db1", "password": "(sensitive value)"}
    assert shown["status"] == "running"


def test_display_json_carries_neither_hash_nor_salt():
    state = State(resources=[new_recorded(resource())])
    text = json.dumps(state.display_json())
    assert "pw-1" not in text and "pbkdf2" not in text and state.resources[0].salt not in text
    assert state.display_json()["resources"][0]["attributes"]["source_endpoint"]["password"] == "(sensitive value)"
