"""Full copy and live replication between real SQLite files through the agent process."""

from __future__ import annotations

import threading
import time

from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.sqlite.conftest import connect, rows


def test_full_copy_then_insert_update_delete_and_key_change_replicate(make_task):
    task = make_task(count=500)
    task.apply()
    task.wait_incremental()
    assert rows(task.destination, "orders") == rows(task.source, "orders")
    with connect(task.source) as conn:
        conn.execute("INSERT INTO orders VALUES (1000, 0.30000000000000004, 'new', x'00ff')")
        conn.execute("UPDATE orders SET note = 'changed' WHERE id <= 10")
        conn.execute("DELETE FROM orders WHERE id BETWEEN 20 AND 29")
        conn.execute("UPDATE orders SET id = 2000 WHERE id = 30")
    task.wait_caught_up()
    destination = dict((row[0], row) for row in rows(task.destination, "orders"))
    assert destination[1000] == (1000, 0.30000000000000004, "new", b"\x00\xff")
    assert 30 not in destination and destination[2000][2] == "note 30"
    status = task.wait_status(lambda s: s["events_applied"] >= 22 and s["lag_seconds"] == 0)
    assert status["rows_copied"] == 500 and status["state"] == "running"
    assert status["tables"]["main.orders"] == {"rows_copied": 500, "rows_estimated": 500, "done": True}


def test_sigterm_stops_gracefully_and_restart_resumes(make_task):
    task = make_task(count=50)
    task.apply()
    task.wait_incremental()
    assert task.stop() == 0
    assert task.status()["state"] == "stopped"
    with connect(task.source) as conn:
        conn.execute("INSERT INTO orders VALUES (999, 1.0, 'while stopped', NULL)")
    task.start()
    task.wait_caught_up()
    assert task.wait_status(lambda s: s["events_applied"] == 1)["rows_copied"] == 50


def test_migration_completes_and_exits_zero(make_task):
    task = make_task(count=300, type="migration", phases=["schema", "full"])
    task.apply()
    assert task.process.wait(timeout=15) == 0
    status = task.status()
    assert (status["state"], status["phase"], status["rows_copied"]) == ("completed", "done", 300)
    assert rows(task.destination, "orders") == rows(task.source, "orders")
    with connect(task.source) as conn:  # a migration installs no capture triggers
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] == 0


def test_second_agent_exits_at_once_while_first_holds_the_lock(make_task):
    task = make_task(count=10)
    task.apply()
    task.wait_incremental()
    first = task.process
    try:
        assert task.start().wait(timeout=10) == 0
        assert first.poll() is None
    finally:
        first.kill()
        first.wait()


def _writer(path, stop: threading.Event, start: int) -> None:
    """A concurrent application: inserts, updates and deletes until stopped."""
    key = start
    with connect(path) as conn:
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO orders VALUES (?, ?, 'live', NULL)", (key, key / 3))
            conn.execute("UPDATE orders SET amount = amount + 1 WHERE id = ?", (key - start + 1,))
            conn.execute("DELETE FROM orders WHERE id = ?", (key - 5,))
            conn.execute("COMMIT")
            key += 1
            time.sleep(0.002)


def test_sigkill_during_full_copy_with_concurrent_writer_converges(make_task):
    task = make_task(count=40_000, throttle={"rps": 20_000, "mbps": 0})
    task.apply()
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(task.source, stop, 100_000))
    writer.start()
    try:
        task.wait_status(lambda s: s["phase"] == "full" and 5_000 <= s["rows_copied"] < 40_000, what="mid copy")
        assert task.kill() != 0
        copied_before = task.status()["rows_copied"]
        task.start()
        task.wait_incremental()
    finally:
        stop.set()
        writer.join()
    task.wait_caught_up(timeout=30)
    status = task.wait_status(lambda s: s["lag_seconds"] == 0)
    assert status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}
    assert copied_before <= status["rows_copied"] <= 40_000 + 5_000 + copied_before


def test_sigkill_during_incremental_with_concurrent_writer_converges(make_task):
    task = make_task(count=1_000)
    task.apply()
    task.wait_incremental()
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(task.source, stop, 10_000))
    writer.start()
    try:
        for _ in range(3):
            task.wait_status(lambda s: s["events_applied"] > 0, what="events applied")
            time.sleep(0.3)
            assert task.kill() != 0
            task.start()
            task.wait_incremental()
    finally:
        stop.set()
        writer.join()
    task.wait_caught_up(timeout=30)
    assert task.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == {"insert": 0, "update": 0, "delete": 0}


def test_conflict_under_policy_fail_is_fatal_and_names_the_row(make_task):
    task = make_task(count=10)
    task.apply()
    task.wait_incremental()
    with connect(task.destination) as conn:
        conn.execute("INSERT INTO orders VALUES (5000, 1.0, 'only on destination', NULL)")
    with connect(task.source) as conn:
        conn.execute("INSERT INTO orders VALUES (5000, 2.0, 'from source', NULL)")
    assert task.process.wait(timeout=15) == EXIT_FATAL
    status = task.status()
    assert status["state"] == "failed"
    assert status["last_error"] == (
        "conflict: insert into main.orders key (id=5000) already exists; conflict_policy is fail"
    )
