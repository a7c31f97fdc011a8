"""The reader and the applier in separate processes (issue 13): kill -9 of either alone under
writes, during incremental and (the reader) during the full copy, ends with source and
destination equal (kill -9 of the whole agent: test_faults.py)."""

from __future__ import annotations

import os
import signal
import threading

from tests.integration.agent_process import process_ended, wait_for
from tests.integration.mysql.conftest import (copying_under_writes, create_orders, streaming_under_writes,
                                              wait_equal)

NO_CONFLICTS = {"insert": 0, "update": 0, "delete": 0}


def _converged(pair, task):
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    return task.wait_status(lambda s: s["lag_seconds"] == 0)


def test_a_killed_reader_process_is_started_again_by_the_same_agent(pair):
    task, writer = streaming_under_writes(pair)
    try:
        for _ in range(2):
            reader = task.reader_pid()
            read = task.status()["events_read"]
            task.wait_status(lambda s: s["events_read"] > read, what="events read")
            os.kill(reader, signal.SIGKILL)
            task.wait_status(lambda s: s["reader"]["pid"] not in (None, reader), what="a new reader process")
        status = task.wait_status(lambda s: s["reader"]["events_per_second"] > 0
                                  and s["applier"]["events_per_second"] > 0, what="rates")
    finally:
        writer.stop()
    assert "gtid" in status["reader"]["position"] and "gtid" in status["applier"]["position"]
    assert _converged(pair, task)["conflicts"] == NO_CONFLICTS
    assert task.process.poll() is None, "the applier went on in the same agent process"


def test_a_killed_applier_takes_its_reader_along_and_the_restarted_agent_resumes(pair):
    task, writer = streaming_under_writes(pair)
    try:
        reader = task.reader_pid()
        applied = task.status()["events_applied"]
        task.wait_status(lambda s: s["events_applied"] > applied, what="events applied")
        assert task.kill() == -signal.SIGKILL  # the agent's main process is the applier
        wait_for(lambda: process_ended(reader), 10, "the reader to end with its agent")
        task.start()
        task.wait_incremental()
    finally:
        writer.stop()
    assert _converged(pair, task)["conflicts"] == NO_CONFLICTS


def test_a_reader_killed_during_the_full_copy_is_started_again_and_the_copy_goes_on(pair):
    task, writer = copying_under_writes(pair, 60_000)  # the throttle lets 20,000 through at once
    try:
        task.apply()
        reader = task.reader_pid()
        task.wait_status(lambda s: s["phase"] == "full" and s["rows_copied"] >= 5_000, what="mid copy")
        os.kill(reader, signal.SIGKILL)
        task.wait_status(lambda s: s["reader"]["pid"] not in (None, reader), what="a new reader process")
        task.wait_incremental(timeout=60)
    finally:
        writer.stop()
    assert _converged(pair, task)["conflicts"] == NO_CONFLICTS
    assert task.process.poll() is None, "the copy went on in the same agent process"


def _burst(server, database: str, transactions: int, first_id: int) -> threading.Thread:
    """A backlog written as fast as one client can: transactions of 10 inserts, an update and a delete."""
    def write() -> None:
        conn = server.root_connect(database=database, autocommit=False)
        try:
            with conn.cursor() as cursor:
                for number in range(transactions):
                    start = first_id + number * 10
                    cursor.executemany("INSERT INTO orders (id, amount, note) VALUES (%s, %s, 'burst')",
                                       [(key, key / 4) for key in range(start, start + 10)])
                    cursor.execute("UPDATE orders SET note = 'upd' WHERE id = %s", (number + 1,))
                    cursor.execute("DELETE FROM orders WHERE id = %s", (start,))
                    conn.commit()
        finally:
            conn.close()
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_kills_while_a_backlog_is_read_in_groups_and_applied_in_large_batches_lose_nothing(pair):
    """The reader appends many source transactions per change-log commit and the applier applies
    up to thousands per destination transaction: kill -9 of the reader mid-append, then of the
    applier mid-batch, and the destination still equals the source row by row."""
    create_orders(pair.source, pair.source_db, 1_000)
    task = pair.task()
    task.apply()
    task.wait_incremental()
    burst = _burst(pair.source, pair.source_db, 8_000, 1_000_000)
    read = task.status()["events_read"]
    for _ in range(2):
        reader = task.reader_pid()
        task.wait_status(lambda s: s["events_read"] > read + 1_000, what="a group of events read")
        read = task.status()["events_read"]
        os.kill(reader, signal.SIGKILL)
        task.wait_status(lambda s: s["reader"]["pid"] not in (None, reader), what="a new reader process")
    applied = task.status()["events_applied"]
    task.wait_status(lambda s: s["events_applied"] > applied, what="events applied")
    assert task.kill() == -signal.SIGKILL
    task.start()
    burst.join(timeout=120)
    task.wait_incremental()
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders", timeout=120)
    assert task.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS
