"""The agent's contract: prechecks, secrets in logs, retries, engines without a connector."""

from __future__ import annotations

import dataclasses

import pytest

from dtsctl import registry
from dtsctl.runtime import lifecycle
from dtsctl.errors import DtsError
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.sqlite.conftest import connect, rows


def _failures(task) -> list[str]:
    return [check.message for check in lifecycle.precheck(task.attributes, task.task_id) if not check.ok]


def test_precheck_missing_source_file_says_what_to_do(make_task, tmp_path):
    task = make_task()
    task.attributes["source_endpoint"]["path"] = str(tmp_path / "nope.db")
    assert _failures(task) == [f"source file {tmp_path / 'nope.db'} does not exist; create it or fix endpoint `path`"]


def test_precheck_reports_missing_table_missing_key_and_bad_filter(make_task):
    task = make_task(objects=[{"tables": ["orders", "ghost", "logs"], "filter": {"orders": "amount >>> 3"}}])
    with connect(task.source) as conn:
        conn.execute("CREATE TABLE logs (line TEXT)")
    failures = _failures(task)
    assert "table main.ghost does not exist in the source; fix `objects`" in failures
    assert any(m.startswith("table main.logs has no primary key or unique NOT NULL key") for m in failures)
    assert any(m.startswith("filter for main.orders is not a valid SQL expression") for m in failures)


def test_precheck_rejects_destination_rows_under_fail_but_not_for_the_same_task(make_task):
    task = make_task(count=5)
    task.apply()
    task.wait_incremental()
    assert _failures(task) == []  # this task's own checkpoint is there: a restart
    task.task_id = "a-replacement-task"
    assert _failures(task) == [
        "destination table main.orders already holds 5 rows; empty it, rename the table with `table_rename`, "
        "or set conflict_policy to ignore or overwrite"
    ]
    task.attributes["conflict_policy"] = "overwrite"
    assert _failures(task) == []


def test_agent_fails_fatally_when_precheck_fails(make_task):
    task = make_task(objects=[{"tables": ["ghost"]}])
    task.write_config()
    assert task.start().wait(timeout=10) == EXIT_FATAL
    status = task.status()
    assert status["state"] == "failed" and "ghost" in status["last_error"]


def test_passwords_never_reach_the_log_or_status(make_task, tmp_path):
    task = make_task(count=5)
    task.attributes["source_endpoint"]["password"] = "hunter2-secret"
    task.attributes["objects"][0]["tables"] = ["hunter2-secret"]  # forces an error that quotes the secret
    task.attributes["objects"][0]["all"] = False
    task.write_config()
    assert task.start().wait(timeout=10) == EXIT_FATAL
    text = task.log.read_text() + (task.dir / "status.json").read_text()
    assert "hunter2-secret" not in text
    assert "(sensitive value)" in text


def test_missing_source_file_is_retried_then_recovers(make_task):
    task = make_task(count=20)
    task.apply()
    task.wait_incremental()
    task.stop()
    moved = task.source.with_suffix(".away")
    task.source.rename(moved)
    task.start()
    status = task.wait_status(lambda s: s["last_error"] and "does not exist" in s["last_error"])
    assert task.process.poll() is None and status["state"] == "running"
    moved.rename(task.source)
    task.wait_status(lambda s: s["phase"] == "incremental" and s["last_error"] is None)
    with connect(task.source) as conn:
        conn.execute("DELETE FROM orders WHERE id = 3")
    task.wait_caught_up()


def test_connection_failure_becomes_fatal_after_the_retry_window(make_task):
    task = make_task(count=5, retry={"connection_minutes": 0.02, "other_minutes": 1})
    task.apply()
    task.wait_incremental()
    task.stop()
    task.source.unlink()
    assert task.start().wait(timeout=15) == EXIT_FATAL
    assert "does not exist" in task.status()["last_error"]


def test_an_engine_declared_without_a_connector_is_refused(make_task, monkeypatch):
    """An engine may be declared (endpoints validate) before its connector exists; a task on it is
    refused in words. Every shipped engine has one now, so SQLite is declared without one here."""
    declared = registry.engine
    monkeypatch.setattr(registry, "engine", lambda name: dataclasses.replace(declared(name), connector=None))
    task = make_task()
    with pytest.raises(DtsError, match="^the sqlite engine is not available yet in this version of dtsctl$"):
        lifecycle.precheck(task.attributes, task.task_id)


def test_verify_reports_equal_and_different_tables(make_task):
    task = make_task(count=50)
    task.apply()
    task.wait_incremental()
    [comparison] = lifecycle.verify(task.attributes, task.task_id)
    assert comparison.ok and comparison.source_count == 50
    task.stop()
    with connect(task.destination) as conn:
        conn.execute("UPDATE orders SET note = 'drift' WHERE id = 9")
    [comparison] = lifecycle.verify(task.attributes, task.task_id)
    assert comparison.destination_count == 50 and comparison.different == [(9,)]
    assert len(rows(task.source, "orders")) == 50
