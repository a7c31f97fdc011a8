"""Objects, filters, renames and conflict policies, including in-place reconfiguration."""

from __future__ import annotations

import pytest

from dtsctl.runtime import lifecycle
from tests.integration.sqlite.conftest import connect, create_orders, rows


def test_table_added_in_place_is_copied_then_streamed(make_task):
    task = make_task(count=100, objects=[{"tables": ["orders"]}])
    create_orders(task.source, 250, table="items")
    task.apply()
    task.wait_incremental()
    assert task.stop() == 0
    task.attributes["objects"][0]["tables"] = ["orders", "items"]
    task.apply()
    task.wait_incremental()
    with connect(task.source) as conn:
        conn.execute("UPDATE items SET note = 'after add' WHERE id = 7")
        conn.execute("INSERT INTO orders VALUES (777, 1.0, 'still streaming', NULL)")
    task.wait_caught_up("items")
    task.wait_caught_up("orders")
    status = task.wait_status(lambda s: s["rows_copied"] >= 350)  # status.json follows the data
    assert status["rows_copied"] == 350  # orders was not copied again
    assert set(status["tables"]) == {"main.orders", "main.items"}


def test_removed_table_stops_being_applied(make_task):
    task = make_task(count=20, objects=[{"tables": ["orders", "items"]}])
    create_orders(task.source, 20, table="items")
    task.apply()
    task.wait_incremental()
    task.stop()
    task.attributes["objects"][0]["tables"] = ["orders"]
    task.apply()
    task.wait_incremental()
    with connect(task.source) as conn:
        conn.execute("DELETE FROM items")
        conn.execute("DELETE FROM orders WHERE id = 1")
    task.wait_caught_up("orders")
    assert len(rows(task.destination, "items")) == 20
    assert set(task.status()["tables"]) == {"main.orders"}


def test_filter_and_rename_apply_to_copy_and_changes(make_task):
    task = make_task(count=100, objects=[{"tables": ["orders"], "table_rename": {"orders": "big_orders"},
                                          "filter": {"orders": "amount > 50"}}])
    task.apply()
    task.wait_incremental()
    assert [row[0] for row in rows(task.destination, "big_orders")] == list(range(46, 101))
    with connect(task.source) as conn:
        conn.execute("UPDATE orders SET amount = 1 WHERE id = 60")  # leaves the filter: deleted
        conn.execute("UPDATE orders SET amount = 99 WHERE id = 3")  # enters the filter: inserted
        conn.execute("INSERT INTO orders VALUES (500, 5, 'filtered out', NULL)")
        conn.execute("INSERT INTO orders VALUES (501, 500, 'kept', NULL)")
    expected = [row for row in rows(task.source, "orders") if row[1] > 50]
    task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] >= 3)
    assert rows(task.destination, "big_orders") == expected


def test_dml_list_drops_unlisted_operations(make_task):
    task = make_task(count=10, objects=[{"tables": ["orders"], "dml": ["insert", "update"]}])
    task.apply()
    task.wait_incremental()
    with connect(task.source) as conn:
        conn.execute("DELETE FROM orders WHERE id = 1")
        conn.execute("INSERT INTO orders VALUES (11, 1, 'x', NULL)")
    task.wait_status(lambda s: s["events_applied"] == 1)
    assert [row[0] for row in rows(task.destination, "orders")] == list(range(1, 12))


@pytest.mark.parametrize("policy", ["ignore", "overwrite"])
def test_conflict_policies_resolve_and_count(make_task, policy):
    task = make_task(count=10, conflict_policy=policy)
    task.apply()
    task.wait_incremental()
    with connect(task.destination) as conn:
        conn.execute("INSERT INTO orders VALUES (100, 1.0, 'destination', NULL)")
        conn.execute("DELETE FROM orders WHERE id IN (1, 2)")
    with connect(task.source) as conn:
        conn.execute("INSERT INTO orders VALUES (100, 2.0, 'source', NULL)")
        conn.execute("UPDATE orders SET note = 'updated' WHERE id = 1")
        conn.execute("DELETE FROM orders WHERE id = 2")
    status = task.wait_status(lambda s: s["events_applied"] == 3)
    assert status["conflicts"] == {"insert": 1, "update": 1, "delete": 1}
    destination = {row[0]: row for row in rows(task.destination, "orders")}
    if policy == "ignore":
        assert destination[100][2] == "destination" and 1 not in destination
    else:
        assert destination[100][2] == "source" and destination[1][2] == "updated"
    assert 2 not in destination


def test_teardown_removes_capture_and_bookkeeping_but_keeps_data(make_task):
    task = make_task(count=30)
    task.apply()
    task.wait_incremental()
    task.stop()
    lifecycle.teardown(task.attributes, task.task_id)
    with connect(task.source) as conn:
        own = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%dtsctl%'").fetchall()
    assert own == []
    assert len(rows(task.source, "orders")) == 30
    assert rows(task.destination, "orders") == rows(task.source, "orders")
    with connect(task.destination) as conn:  # the last task writing there: its checkpoint table goes too
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%dtsctl%'").fetchall() == []
    lifecycle.teardown(task.attributes, task.task_id)  # idempotent
    task.source.unlink()
    lifecycle.teardown(task.attributes, task.task_id)  # tolerates a missing file


def test_prepare_installs_triggers_only_for_selected_tables_per_task(make_task):
    task = make_task(count=5, objects=[{"tables": ["orders"]}])
    create_orders(task.source, 5, table="items")
    lifecycle.prepare(task.attributes, task.task_id)
    lifecycle.prepare(task.attributes, "another-task-0001")
    task.attributes["objects"][0]["tables"] = ["items"]
    lifecycle.prepare(task.attributes, task.task_id)
    with connect(task.source) as conn:
        triggers = conn.execute("SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' "
                                "GROUP BY tbl_name").fetchall()
    assert sorted(triggers) == [("items", 3), ("orders", 3)]  # this task: items; the other: orders
