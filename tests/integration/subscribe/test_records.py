"""Records for every DML kind, offsets across restarts, independent groups, replay from a time."""

from __future__ import annotations

import time

import pytest

from dtsctl.subscribe import PositionTrimmed, Subscriber
from tests.integration.subscribe.conftest import wait_for

ROW_OPS = ("insert", "update", "delete")


def _rows(subscriber: Subscriber, count: int, timeout: float = 15) -> list:
    """The next `count` row records (begin/commit/heartbeat skipped)."""
    found, deadline = [], time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        record = subscriber.next_record(0.5)
        if record is not None and record.op in ROW_OPS:
            found.append(record)
    assert len(found) == count, f"got {len(found)} of {count} row records"
    return found


def test_every_dml_kind_with_exact_before_and_after_images(make_task, sqlite_source):
    task = make_task()
    task.apply()
    sqlite_source.execute("INSERT INTO orders VALUES (1, 0.1, 'first', x'00ff')")
    sqlite_source.execute("UPDATE orders SET amount = 1e-300, note = NULL WHERE id = 1")
    sqlite_source.execute("DELETE FROM orders WHERE id = 1")
    with Subscriber(task.dir, None, "g") as subscriber:
        insert, update, delete = _rows(subscriber, 3)
    first = {"id": 1, "amount": 0.1, "note": "first", "data": b"\x00\xff"}
    second = {"id": 1, "amount": 1e-300, "note": None, "data": b"\x00\xff"}
    assert (insert.op, insert.object, insert.before, insert.after) == ("insert", "main.orders", None, first)
    assert (update.op, update.before, update.after) == ("update", first, second)
    assert (delete.op, delete.before, delete.after) == ("delete", second, None)
    envelope = insert.envelope
    assert envelope["after"]["data"] == "AP8=" and envelope["types"] == {"data": "bytes"}
    assert envelope["xid"] < insert.seq and envelope["commit_time"].endswith("+00:00")
    assert isinstance(envelope["position"], int)


def test_offsets_survive_consumer_restarts_and_groups_progress_independently(make_task, sqlite_source):
    task = make_task(["a", "b"])
    task.apply()
    for i in range(1, 6):
        sqlite_source.execute(f"INSERT INTO orders (id) VALUES ({i})")
    with Subscriber(task.dir, None, "a") as a:
        records = _rows(a, 3)
        a.commit(records[-1].seq)
    with Subscriber(task.dir, None, "a") as a:
        assert [r.after["id"] for r in _rows(a, 2)] == [4, 5]
    with Subscriber(task.dir, None, "b") as b:
        assert [r.after["id"] for r in _rows(b, 5)] == [1, 2, 3, 4, 5]
    groups = {g["name"]: g for g in task.describe()["groups"]}
    assert groups["a"]["offset"] == records[-1].seq and groups["b"]["offset"] == 0
    assert groups["b"]["lag_records"] > groups["a"]["lag_records"] > 0


def test_replay_from_a_timestamp(make_task, sqlite_source):
    task = make_task()
    task.apply()
    sqlite_source.execute("INSERT INTO orders (id) VALUES (1)")
    task.wait_recorded(1)
    time.sleep(0.3)
    middle = time.time()
    time.sleep(0.3)
    sqlite_source.execute("INSERT INTO orders (id) VALUES (2)")
    task.wait_recorded(2)
    with Subscriber(task.dir, None, "g", start=middle) as subscriber:
        first = subscriber.next_record(2)
        assert first.op == "begin"
        assert _rows(subscriber, 1)[0].after["id"] == 2


def test_retention_by_size_trims_past_a_slow_group_which_reads_a_gap_and_is_warned(make_task, sqlite_source):
    task = make_task(retention={"hours": 24.0, "megabytes": 0.002})
    task.apply()
    for i in range(1, 41):
        sqlite_source.execute(f"INSERT INTO orders VALUES ({i}, {i}, '{'x' * 50}', NULL)")
    task.wait_recorded(40)
    wait_for(lambda: task.describe()["retained"]["first_seq"] not in (None, 1), what="trimming")
    stream = task.describe()
    assert stream["retained"]["megabytes"] <= 0.002
    assert any("lost records" in warning for warning in stream["warnings"])
    with Subscriber(task.dir, None, "g") as subscriber:
        gap = subscriber.next_record(2)
        assert gap.op == "gap" and gap.envelope["gap"]["from"] == 1
        assert gap.seq == stream["retained"]["first_seq"] - 1
        assert subscriber.next_record(2).seq == gap.seq + 1
    with pytest.raises(PositionTrimmed):
        Subscriber(task.dir, None, "g", start=time.time() - 3600)


def test_retention_by_age_keeps_what_a_declared_group_has_not_read(make_task, sqlite_source):
    task = make_task({"slow": {"start": "latest"}, "fast": {"start": "latest"}},
                     retention={"hours": 0.0002, "megabytes": 0.0})  # 0.72 s
    task.apply()
    for i in range(1, 4):
        sqlite_source.execute(f"INSERT INTO orders (id) VALUES ({i})")
    task.wait_recorded(3)
    with Subscriber(task.dir, None, "fast") as fast:
        fast.commit(_rows(fast, 3)[-1].seq)
    time.sleep(2.5)
    stream = task.describe()
    assert stream["retained"]["first_seq"] == 1 and not stream["warnings"]  # `slow` still needs them
    with Subscriber(task.dir, None, "slow") as slow:
        assert [r.after["id"] for r in _rows(slow, 3)] == [1, 2, 3]
        slow.commit()
    wait_for(lambda: (task.describe()["retained"]["first_seq"] or 0) > 1, what="age trimming")
