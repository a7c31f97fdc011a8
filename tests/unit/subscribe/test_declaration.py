"""Subscription fields in the declaration: attributes, validation, in-place plans."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dtsctl.config import load_workspace
from dtsctl.errors import ValidationFailed
from dtsctl.plan import make_plan
from dtsctl.state import State, new_recorded

ENDPOINTS = """
endpoints:
  shop: {engine: sqlite, path: ./shop.db}
  cache: {engine: redis, host: 127.0.0.1, port: 6390, password: s3cret}
  lake: {engine: sqlite, path: ./lake.db}
"""


def _load(tmp_path: Path, task: str):
    (tmp_path / "main.dts.yaml").write_text(ENDPOINTS + "tasks:\n  cdc:\n" + textwrap.indent(
        textwrap.dedent(task).strip() + "\n", "    "))
    return load_workspace(tmp_path, environ={})


BASE = """
type: subscription
source: shop
objects: [{database: main, tables: [orders]}]
"""


def test_subscription_attributes_with_groups_as_a_list_or_a_mapping(tmp_path):
    [listed] = _load(tmp_path, BASE + "consumer_groups: [b, a]\n").resources
    assert listed.attributes["consumer_groups"] == {"a": {"start": "latest"}, "b": {"start": "latest"}}
    assert listed.attributes["retention"] == {"hours": 24.0, "megabytes": 0.0}
    assert listed.attributes["deliver_to"] is None and listed.attributes["delivery_endpoint"] is None
    [mapped] = _load(tmp_path, BASE + textwrap.dedent("""
        consumer_groups: {a: {start: earliest}, b: null}
        retention: {hours: 1, megabytes: 5}
        deliver_to: {endpoint: cache, stream: "shop:changes"}
    """)).resources
    assert mapped.attributes["consumer_groups"] == {"a": {"start": "earliest"}, "b": {"start": "latest"}}
    assert mapped.attributes["retention"] == {"hours": 1.0, "megabytes": 5.0}
    assert mapped.attributes["delivery_endpoint"]["host"] == "127.0.0.1"
    assert ("delivery_endpoint", "password") in mapped.sensitive_paths


@pytest.mark.parametrize("extra, message", [
    ("consumer_groups: [a, a]", "listed twice"),
    ("consumer_groups: ['a b']", "may only hold"),
    ("deliver_to: {endpoint: lake, stream: s}", "must be a redis endpoint"),
    ("deliver_to: {endpoint: nowhere, stream: s}", "unknown endpoint"),
    ("phases: [schema, full]", "keep `incremental`"),
])
def test_bad_subscription_fields_are_reported(tmp_path, extra, message):
    with pytest.raises(ValidationFailed) as caught:
        _load(tmp_path, BASE + extra + "\n")
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_subscription_fields_on_other_tasks_are_refused(tmp_path):
    with pytest.raises(ValidationFailed) as caught:
        _load(tmp_path, "type: synchronization\nsource: shop\ndestination: lake\n"
                        "objects: [{database: main, tables: [orders]}]\nconsumer_groups: [a]\n")
    assert any("for subscription tasks only" in problem for problem in caught.value.problems)


def test_adding_or_removing_a_group_is_an_in_place_update(tmp_path):
    [before] = _load(tmp_path, BASE + "consumer_groups: [a]\n").resources
    state = State(serial=1, resources=[new_recorded(before, "id-1")])
    for groups in ("[a, b]", "[]"):
        [after] = _load(tmp_path, BASE + f"consumer_groups: {groups}\n").resources
        [change] = make_plan([after], state, None).changes
        assert change.actions == ["update"] and change.changed_paths[0].startswith("consumer_groups")
