from __future__ import annotations

import time

import pytest

from dtsctl.subscribe import GroupNotDeclared, LeaseLost, PositionTrimmed, ReadOnly, StoreMissing, Subscriber
from dtsctl.engine.subscription import retention
from dtsctl.engine.subscription.retention import Retention


def _ops(records):
    return [(r.seq, r.op) for r in records]


def test_committed_offsets_survive_a_new_subscriber_and_uncommitted_records_come_again(feed):
    feed.inserts(3)
    feed.store.sync_groups({"g": "earliest"})
    with Subscriber(feed.task_dir, None, "g") as first:
        records = first.poll(max_records=5, timeout=1)
        assert _ops(records) == [(1, "begin"), (2, "insert"), (3, "commit"), (4, "begin"), (5, "insert")]
        records[2].commit()
    with Subscriber(feed.task_dir, None, "g") as second:
        assert second.next_record(1).seq == 4


def test_two_groups_progress_independently(feed):
    feed.inserts(2)
    feed.store.sync_groups({"a": "earliest", "b": "earliest"})
    with Subscriber(feed.task_dir, None, "a") as a:
        a.commit(a.poll(max_records=6, timeout=1)[-1].seq)
    with Subscriber(feed.task_dir, None, "b") as b:
        assert b.next_record(1).seq == 1
    assert {g.name: g.committed_seq for g in feed.store.groups()} == {"a": 6, "b": 0}


def test_one_active_consumer_per_group_and_takeover_from_the_committed_offset(feed):
    feed.inserts(2)
    feed.store.sync_groups({"g": "earliest"})
    active = Subscriber(feed.task_dir, None, "g", consumer="one", lease_seconds=0.6)
    standby = Subscriber(feed.task_dir, None, "g", consumer="two", lease_seconds=0.6)
    assert active.next_record(1).seq == 1
    active.commit()
    assert standby.next_record(0.2) is None and not standby.active
    time.sleep(0.7)  # `active` stalls past its lease
    assert standby.next_record(1).seq == 2
    with pytest.raises(LeaseLost):
        active.commit()
    assert active.next_record(0.2) is None  # it waits now
    standby.close()
    assert active.next_record(1).seq == 2
    active.close()


def test_closing_hands_the_lease_over_at_once(feed):
    feed.inserts(1)
    feed.store.sync_groups({"g": "earliest"})
    first = Subscriber(feed.task_dir, None, "g", lease_seconds=60)
    second = Subscriber(feed.task_dir, None, "g", lease_seconds=60)
    assert first.next_record(1) is not None and second.next_record(0.2) is None
    first.close()
    assert second.next_record(1).seq == 1
    second.close()


def test_start_positions(feed):
    feed.inserts(2, commit_time=100.0)
    feed.inserts(2, commit_time=200.0)
    feed.store.sync_groups({"g": "latest"})
    def first_seq(**options):
        with Subscriber(feed.task_dir, None, "g", exclusive=False, **options) as subscriber:
            record = subscriber.next_record(0.3)
            return None if record is None else record.seq
    assert first_seq() is None  # committed: a group declared now starts after everything
    assert first_seq(start="earliest") == 1
    assert first_seq(start=150.0) == 7
    assert first_seq(start="latest") is None


def test_peeking_needs_no_lease_and_cannot_commit(feed):
    feed.inserts(1)
    feed.store.sync_groups({"g": "earliest"})
    with Subscriber(feed.task_dir, None, "g", lease_seconds=60) as owner, \
            Subscriber(feed.task_dir, None, "g", exclusive=False) as peek:
        assert owner.next_record(1).seq == 1
        assert peek.next_record(1).seq == 1
        with pytest.raises(ReadOnly):
            peek.commit(1)


def test_clear_errors(feed, tmp_path):
    feed.inserts(2, commit_time=100.0)
    feed.inserts(2, commit_time=200.0)
    feed.store.sync_groups({"g": "earliest"})
    with pytest.raises(GroupNotDeclared, match="consumer_groups"):
        Subscriber(feed.task_dir, None, "other")
    with pytest.raises(StoreMissing, match="dtsctl apply"):
        Subscriber(tmp_path / "workspace", "orders", "g")
    retention.enforce(feed.store, Retention(0, feed.store.retained().bytes / 2 / 1e6), time.time(), [])
    with pytest.raises(PositionTrimmed):
        Subscriber(feed.task_dir, None, "g", start=100.0)
