"""Crashes, restarts of either server, and conflict policies."""

from __future__ import annotations

import time

import pytest

from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.mysql.conftest import copying_under_writes, streaming_under_writes, table_rows, wait_equal

NO_CONFLICTS = {"insert": 0, "update": 0, "delete": 0}


def test_sigkill_during_full_copy_under_writes_resumes_and_converges(pair):
    task, writer = copying_under_writes(pair, 60_000)
    try:
        task.apply()
        task.wait_status(lambda s: s["phase"] == "full" and 10_000 <= s["rows_copied"] < 50_000, what="mid copy")
        assert task.kill() != 0
        task.start()
        task.wait_incremental(timeout=60)
    finally:
        writer.stop()
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    assert task.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS


@pytest.mark.parametrize("kill", ["kill", "kill_all"], ids=["the applier", "the whole agent"])
def test_sigkill_during_incremental_under_writes_converges(pair, kill):
    """kill -9 of the agent's main process (the applier; its reader process ends with it), or of
    the applier and the reader at once."""
    task, writer = streaming_under_writes(pair)
    try:
        for _ in range(3):
            applied = task.status()["events_applied"]
            task.wait_status(lambda s: s["events_applied"] > applied, what="events applied")
            assert getattr(task, kill)() != 0
            task.start()
            task.wait_incremental()
    finally:
        writer.stop()
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    assert task.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS


def test_source_restart_and_destination_outage_are_ridden_out(pair):
    task, writer = streaming_under_writes(pair)
    try:
        time.sleep(0.5)
        pair.source.restart()
        time.sleep(0.5)
        pair.destination.stop()
        time.sleep(3)
        pair.destination.start()
        time.sleep(1)
    finally:
        writer.stop()
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders", timeout=60)
    status = task.wait_status(lambda s: s["lag_seconds"] == 0 and s["last_error"] is None, timeout=30)
    assert status["state"] == "running" and status["conflicts"] == NO_CONFLICTS
    assert task.process.poll() is None  # the same agent retried: no crash
    assert "unavailable" in task.log.read_text()


def _diverge(pair, policy):
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(20))")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    task = pair.task(conflict_policy=policy)
    task.apply()
    task.wait_incremental()
    dest = f"`{pair.dest_db}`.orders"
    pair.destination.execute(f"INSERT INTO {dest} VALUES (10, 'dest only')")
    pair.destination.execute(f"DELETE FROM {dest} WHERE id IN (1, 2)")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (10, 'from source')")
    pair.source.execute(f"UPDATE `{db}`.orders SET note = 'changed' WHERE id = 1")
    pair.source.execute(f"DELETE FROM `{db}`.orders WHERE id = 2")
    return task


def test_conflict_policy_fail_names_the_row(pair):
    task = _diverge(pair, "fail")
    assert task.process.wait(timeout=30) == EXIT_FATAL
    assert task.status()["last_error"] == (
        f"conflict: insert into {pair.dest_db}.orders key (id=10) already exists; conflict_policy is fail")


def test_conflict_policy_ignore_skips_and_counts(pair):
    task = _diverge(pair, "ignore")
    status = task.wait_status(lambda s: sum(s["conflicts"].values()) == 3)
    assert status["conflicts"] == {"insert": 1, "update": 1, "delete": 1}
    assert table_rows(pair.destination, pair.dest_db, "orders") == [(3, "three"), (10, "dest only")]


def test_conflict_policy_overwrite_replaces(pair):
    task = _diverge(pair, "overwrite")
    task.wait_status(lambda s: sum(s["conflicts"].values()) == 3)
    assert table_rows(pair.destination, pair.dest_db, "orders") == [(1, "changed"), (3, "three"), (10, "from source")]


def test_a_batch_of_deletes_meeting_a_missing_row_counts_only_that_row(pair):
    """Deletes go out as one `DELETE ... IN`; when a row is already gone, the batch is replayed
    row by row so the conflict names and counts exactly that row, and the other deletes apply."""
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(20))")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')")
    task = pair.task(conflict_policy="ignore")
    task.apply()
    task.wait_incremental()
    pair.destination.execute(f"DELETE FROM `{pair.dest_db}`.orders WHERE id = 3")
    pair.source.execute(f"DELETE FROM `{db}`.orders WHERE id IN (1, 2)")  # one batch, no conflict
    pair.source.execute(f"DELETE FROM `{db}`.orders WHERE id IN (3, 4)")  # one batch, row 3 already gone
    status = task.wait_status(lambda s: s["events_applied"] >= 4 and s["lag_seconds"] == 0)
    assert status["conflicts"] == {"insert": 0, "update": 0, "delete": 1}
    assert table_rows(pair.destination, pair.dest_db, "orders") == [(5, "e")]
