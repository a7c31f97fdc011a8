"""The replicated record store of the cluster runtime against a real 3-server NATS JetStream cluster:
records, groups, offsets, leases, retention, a recorder restarted mid-transaction, a former
owner fenced off, and one NATS server killed."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.errors import FatalError
from dtsctl.engine.subscription import retention
from dtsctl.engine.subscription.envelope import transaction_records
from dtsctl.engine.subscription.jetstream import JetStreamStore
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, NatsSettings
from dtsctl.engine.subscription.recorder import SOURCE_SEQ, Recorder
from dtsctl.engine.subscription.retention import Retention
from dtsctl.engine.subscription.store import StoreMissing
from dtsctl.subscribe import leases, offsets
from dtsctl.subscribe.errors import LeaseLost
from tests.servers.nats import PASSWORD, USER, NatsCluster
from tests.unit.conftest import tx


@pytest.fixture(scope="module")
def nats_cluster() -> Iterator[NatsCluster]:
    cluster = NatsCluster(3).start()
    yield cluster
    cluster.close()


@pytest.fixture
def settings(nats_cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch) -> NatsSettings:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return NatsSettings(tuple(nats_cluster.urls), 3, f"t_{uuid.uuid4().hex[:12]}", USER)


class Recording:
    """A change log recorded into a JetStream store, as the agent of one host does it."""

    def __init__(self, settings: NatsSettings, task_dir: Path) -> None:
        self.store = JetStreamStore(settings)
        self.changelog = ChangeLog(task_dir / f"changelog-{uuid.uuid4().hex[:6]}.db")
        self.recorder = Recorder(self.store, self.changelog)
        with self.store.transaction():  # as the runner does: this host's change log starts empty
            self.store.set(SOURCE_SEQ, self.changelog.last_seq())

    def add(self, *transactions) -> None:
        self.changelog.append(list(transactions), transactions[-1].position)
        self.record()

    def record(self) -> None:
        """Record what the change log holds beyond what the store has (a retry appends nothing)."""
        while self.recorder.record_next():
            pass

    def close(self) -> None:
        self.store.close()
        self.changelog.close()


def bodies(store: JetStreamStore, after: int = 0) -> list[dict]:
    return [json.loads(body) for _, body in store.read(after, 1000)]


def one_row(n: int, commit_time: float = 1_700_000_000.0):
    return tx(n, ("insert", None, {"id": n}), commit_time=commit_time)


def test_records_are_the_streams_messages_numbered_densely(settings, tmp_path) -> None:
    recording = Recording(settings, tmp_path)
    assert recording.store.read(0, 10) == [] and recording.store.resume_position() == (False, None)
    assert retention.enforce(recording.store, Retention(hours=1, megabytes=1), time.time(), []) == 0  # empty
    recording.add(one_row(1), tx(2, ("update", {"id": 1}, {"id": 1, "x": 1}), ("delete", {"id": 2}, None)))
    read = bodies(recording.store)
    assert [(r["seq"], r["op"]) for r in read] == [
        (1, "begin"), (2, "insert"), (3, "commit"), (4, "begin"), (5, "update"), (6, "delete"), (7, "commit")]
    assert read[5]["xid"] == 4 and read[5]["before"] == {"id": 2}
    assert recording.store.last_seq() == 7 and recording.store.read(7, 10) == []
    assert recording.store.resume_position() == (True, 2)  # the commit's position: where the source resumes
    recording.close()
    with pytest.raises(StoreMissing, match="no change stream"):
        JetStreamStore(NatsSettings(settings.servers, 3, "never_applied", settings.username), create=False)


def test_groups_start_at_latest_or_earliest_and_offsets_move_only_with_the_lease(settings, tmp_path) -> None:
    recording = Recording(settings, tmp_path)
    store = recording.store
    recording.add(one_row(1), one_row(2))
    store.sync_groups({"new": "latest", "all": "earliest"})
    assert {g.name: g.committed_seq for g in store.groups()} == {"new": 6, "all": 0}
    now = time.time()
    first = leases.acquire(store, "all", "one", 0.5, now)
    assert first is not None and leases.acquire(store, "all", "two", 0.5, now) is None
    offsets.commit(store, "all", 3, first, 0.5)
    assert offsets.committed(store, "all") == 3
    second = leases.acquire(store, "all", "two", 5, time.time() + 1)  # `one` stalled past its lease
    assert second is not None and second.token == first.token + 1
    with pytest.raises(LeaseLost):
        offsets.commit(store, "all", 6, first, 0.5)
    assert offsets.committed(store, "all") == 3 and leases.current(store, "all").holder == "two"
    leases.release(store, second)
    assert leases.current(store, "all") is None
    store.sync_groups({"all": "earliest"})
    assert [g.name for g in store.groups()] == ["all"]
    recording.close()


def test_age_never_passes_a_groups_offset_and_the_size_bound_leaves_a_gap(settings, tmp_path) -> None:
    recording = Recording(settings, tmp_path)
    store = recording.store
    recording.add(*(one_row(n) for n in range(1, 11)))  # 30 records
    store.sync_groups({"slow": "earliest"})
    lease = leases.acquire(store, "slow", "c", 60, time.time())
    offsets.commit(store, "slow", 6, lease, 60)
    assert retention.enforce(store, Retention(hours=1, megabytes=0), time.time() + 7200, []) == 6
    assert store.retained().first_seq == 7 and store.group("slow").gap is None
    size = store.retained().bytes
    retention.enforce(store, Retention(hours=0, megabytes=size / 3 / 1e6), time.time(), [])
    kept = store.retained()
    assert kept.first_seq > 7 and kept.bytes <= size / 3 and kept.last_seq == 30
    [(seq, body)] = store.read(6, 100)
    assert seq == kept.trimmed_upto and json.loads(body)["gap"] == {"from": 7, "to": seq, "records": seq - 6}
    assert store.group("slow").gap["to"] == seq
    retention.enforce(store, Retention(hours=0, megabytes=1e-9), time.time(), [])
    assert [r["seq"] for r in bodies(store, 29)] == [30]  # the newest record stays: it says where to resume
    recording.close()


def test_a_start_time_finds_the_first_transaction_committed_in_its_second(settings, tmp_path) -> None:
    recording = Recording(settings, tmp_path)
    recording.add(one_row(1, 1_700_000_000.0), one_row(2, 1_700_000_010.0), one_row(3, 1_700_000_020.0))
    assert recording.store.position_at(1_700_000_010.5) == 3  # from the `begin` (seq 4) of the second
    assert recording.store.position_at(1_700_000_030.0) == 9  # nothing that late: after the newest
    assert recording.store.commit_time_of(5) == 1_700_000_010.0
    recording.close()


def test_a_recorder_restarted_mid_transaction_neither_loses_nor_repeats_a_record(settings, tmp_path) -> None:
    recording = Recording(settings, tmp_path)
    recording.add(one_row(1), one_row(2))
    interrupted = tx(3, ("insert", None, {"id": 3}), ("insert", None, {"id": 4}))
    recording.store.insert(transaction_records(interrupted, 7)[:2], time.time())  # begin, first row: then killed
    recording.close()

    successor = Recording(settings, tmp_path)  # another host: an empty change log, the same stream
    assert successor.store.resume_position() == (True, 2) and successor.store.next_seq() == 7
    successor.add(interrupted, one_row(4))  # the source read again from position 2
    read = bodies(successor.store)
    assert [r["seq"] for r in read] == list(range(1, 14))
    assert [(r["op"], r["after"]) for r in read[6:10]] == [
        ("begin", None), ("insert", {"id": 3}), ("insert", {"id": 4}), ("commit", None)]
    assert successor.store.resume_position() == (True, 4)
    successor.close()


def test_a_former_owner_cannot_publish_after_its_successor(settings, tmp_path) -> None:
    former = Recording(settings, tmp_path)
    former.add(one_row(1))
    successor = Recording(settings, tmp_path)
    successor.add(one_row(2))
    with pytest.raises(FatalError, match="another host took this task over"):
        former.add(one_row(2))
    assert [r["seq"] for r in bodies(successor.store)] == [1, 2, 3, 4, 5, 6]
    former.close()
    successor.close()


def test_records_groups_and_leases_survive_one_nats_server_killed(settings, tmp_path, nats_cluster) -> None:
    recording = Recording(settings, tmp_path)
    store = recording.store
    recording.add(one_row(1))
    store.sync_groups({"g": "earliest"})
    lease = leases.acquire(store, "g", "c", 60, time.time())
    victim = nats_cluster.servers[0]
    victim.kill()
    try:
        recording.add(one_row(2), one_row(3))
        offsets.commit(store, "g", 6, lease, 60)
        reader = JetStreamStore(settings, create=False)  # a consumer connecting now
        assert [r["seq"] for r in bodies(reader)] == list(range(1, 10))
        assert offsets.committed(reader, "g") == 6 and leases.current(reader, "g").holder == "c"
        reader.close()
    finally:
        victim.restart()
    recording.close()


def test_without_a_majority_of_servers_the_store_fails_clearly_and_resumes_once_they_are_back(
        settings, tmp_path, nats_cluster, monkeypatch) -> None:
    from dtsctl.engine.subscription import nats_link
    from dtsctl.errors import DtsError

    monkeypatch.setattr(nats_link, "RETRY_SECONDS", 3.0)
    recording = Recording(settings, tmp_path)
    recording.add(one_row(1))
    lost = nats_cluster.servers[1:]
    for server in lost:
        server.kill()
    try:
        with pytest.raises(DtsError, match="is a majority of its servers up"):
            recording.add(one_row(2))
    finally:
        for server in lost:
            server.restart()
    recording.close()
    wait_until_writable = time.monotonic() + 30
    while True:
        try:  # the agent runs again once the cluster answers
            successor = Recording(settings, tmp_path)
            break
        except DtsError:
            if time.monotonic() > wait_until_writable:
                raise
    # The publishes in doubt when the majority went may have landed once it came back: the source is
    # read again from the stream's resume position, so transaction 2 is read again only if it did not.
    _, resumes_after = successor.store.resume_position()
    if resumes_after < 2:
        successor.changelog.append([one_row(2)], one_row(2).position)
    while True:
        try:
            successor.record()  # the recorder tries again until the cluster answers
            break
        except DtsError:
            if time.monotonic() > wait_until_writable:
                raise
    assert [(r["seq"], r["op"]) for r in bodies(successor.store)][3:] == [(4, "begin"), (5, "insert"), (6, "commit")]
    successor.close()
