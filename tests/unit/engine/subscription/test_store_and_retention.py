from __future__ import annotations

import json
import time

import pytest

from dtsctl.engine.subscription import retention
from dtsctl.engine.subscription.retention import Retention
from dtsctl.engine.subscription.store import PositionTrimmed

from tests.unit.conftest import tx


def test_records_are_numbered_densely_and_the_change_log_position_moves_with_them(feed):
    feed.inserts(2)
    feed.add(tx(3, ("update", {"id": 1}, {"id": 1, "x": 1}), ("delete", {"id": 2}, None)))
    bodies = [json.loads(body) for _, body in feed.store.read(0, 100)]
    assert [(r["seq"], r["op"]) for r in bodies] == [
        (1, "begin"), (2, "insert"), (3, "commit"), (4, "begin"), (5, "insert"), (6, "commit"),
        (7, "begin"), (8, "update"), (9, "delete"), (10, "commit")]
    assert feed.recorder.source_seq == feed.changelog.last_seq() == 3
    assert feed.recorder.record_next() == 0  # nothing is recorded twice


def test_new_groups_start_at_latest_or_earliest_and_removed_groups_lose_their_offset(feed):
    feed.inserts(2)
    feed.store.sync_groups({"new": "latest", "all": "earliest"})
    assert {g.name: g.committed_seq for g in feed.store.groups()} == {"new": 6, "all": 0}
    feed.store.sync_groups({"all": "earliest"})
    assert [g.name for g in feed.store.groups()] == ["all"]


def test_age_trims_old_records_but_never_past_a_declared_groups_offset(feed):
    feed.inserts(4)
    feed.store.sync_groups({"slow": "earliest"})
    with feed.store.transaction():
        feed.store.conn.execute("UPDATE groups SET committed_seq = 6")
    later = time.time() + 7200
    assert retention.enforce(feed.store, Retention(hours=1, megabytes=0), later, []) == 6
    assert feed.store.retained().first_seq == 7
    with feed.store.transaction():
        feed.store.conn.execute("UPDATE groups SET committed_seq = 12")
    assert retention.enforce(feed.store, Retention(hours=1, megabytes=0), later, [9]) == 3  # delivery cursor
    assert feed.store.group("slow").gap is None


def test_the_size_bound_trims_past_a_group_which_then_reads_a_gap_record(feed):
    feed.inserts(10)
    feed.store.sync_groups({"slow": "earliest"})
    size = feed.store.retained().bytes
    deleted = retention.enforce(feed.store, Retention(hours=0, megabytes=size / 2 / 1e6), time.time(), [])
    kept = feed.store.retained()
    assert deleted > 0 and kept.bytes <= size / 2 and kept.first_seq == kept.trimmed_upto + 1
    [(seq, body)] = feed.store.read(0, 100)
    gap = json.loads(body)
    assert seq == kept.trimmed_upto and gap["op"] == "gap"
    assert gap["gap"] == {"from": 1, "to": kept.trimmed_upto, "records": kept.trimmed_upto}
    assert feed.store.group("slow").gap["to"] == kept.trimmed_upto
    assert [s for s, _ in feed.store.read(seq, 1)] == [seq + 1]


def test_a_timestamp_starts_at_the_begin_of_the_first_transaction_at_or_after_it(feed):
    feed.inserts(2, commit_time=100.0)
    feed.inserts(2, commit_time=200.0)
    assert feed.store.position_at(150.0) == 6  # the next record is the begin (seq 7)
    assert feed.store.position_at(50.0) == 0
    assert feed.store.position_at(300.0) == 12
    assert feed.store.position_at(200.5) == 6  # a whole-second commit time (binlog) stands for its second
    assert feed.store.position_at(100.9) == 0


def test_a_timestamp_older_than_retention_is_refused(feed):
    feed.inserts(2, commit_time=100.0)
    feed.inserts(2, commit_time=200.0)
    retention.enforce(feed.store, Retention(hours=0, megabytes=feed.store.retained().bytes / 2 / 1e6),
                      time.time(), [])
    with pytest.raises(PositionTrimmed, match="no longer retained"):
        feed.store.position_at(100.0)


def test_no_heartbeat_carries_a_position_past_a_transaction_not_recorded_yet(feed):
    feed.inserts(1)
    feed.changelog.append([tx(2, ("insert", None, {"id": 2}))], 2)  # read, not recorded yet
    feed.recorder.heartbeat()
    assert [json.loads(body)["op"] for _, body in feed.store.read(0, 10)] == ["begin", "insert", "commit"]
    feed.recorder.record_next()
    feed.recorder.heartbeat()
    ops = [json.loads(body) for _, body in feed.store.read(3, 10)]
    assert [(r["op"], r["position"]) for r in ops] == [("begin", 200), ("insert", 200), ("commit", 2), ("heartbeat", 2)]
