"""Cluster runtime at the agent level, on a Redis destination: a new owner on another host (its own
task directory, no change log) takes a task over from the destination checkpoint's source
position (PSYNC), and a former owner, frozen and then thawed, can never commit again (the
fence key it WATCHes aborts its transaction before anything of it runs)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from dtsctl.connectors.redis.connector import CONNECTOR
from dtsctl.connectors.redis.resp import decode, encode
from dtsctl.connectors.redis.sink import RedisSink
from dtsctl.connectors.redis.source import RedisSource
from dtsctl.engine.errors import FatalError
from dtsctl.engine.keyspace.interfaces import SNAPSHOT_END, Batch, control_of
from dtsctl.runtime import lifecycle
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.redis.conftest import Task, attributes_for, endpoint, wait_equal, wait_for
from tests.integration.redis.data import seed, write_load


def owner(tmp_path: Path, attributes: dict, token: int, first: Task | None = None) -> Task:
    """The task's agent as the owner with this fencing token runs it, on a host of its own."""
    task = Task(tmp_path / f"owner{token}", {**attributes, "fencing_token": token})
    if first is not None:
        task.task_id = first.task_id
        task.write_config()
    return task


class Load:
    """The source's write load (INCRs of `counter` among them) in a thread."""

    def __init__(self, client) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=write_load, args=(client, "", self._stop))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def setup(redis_source, redis_destination, flush_redis, tmp_path):
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    seed(source)
    attributes = attributes_for(endpoint(redis_source), endpoint(redis_destination))
    first = owner(tmp_path, attributes, 1)
    first.apply()
    first.wait_incremental()
    load = Load(redis_source.client())
    tasks = [first]
    try:
        first.wait_status(lambda s: s["events_applied"] > 300, what="events applied")
        yield source, destination, attributes, first, load, tasks
    finally:
        load.stop()
        for task in tasks:
            if task.process is not None and task.process.poll() is None:
                task.process.send_signal(signal.SIGCONT)
                task.process.kill()
                task.process.wait()


def successor(tmp_path: Path, attributes: dict, first: Task, tasks: list[Task]) -> Task:
    """The owner with token 2 started on its own host, once it applies the stream."""
    second = owner(tmp_path, attributes, 2, first)
    tasks.append(second)
    second.start()
    second.wait_incremental()
    applied = second.status()["events_applied"]
    second.wait_status(lambda s: s["events_applied"] > applied + 300, what="events applied by the new owner")
    return second


def test_new_owner_resumes_from_the_destination_checkpoint_without_loss_or_duplicates(setup, tmp_path):
    source, destination, attributes, first, load, tasks = setup
    assert first.kill() != 0  # the host dies: its change log is gone with it
    second = successor(tmp_path, attributes, first, tasks)
    load.stop()
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter"))  # INCRs applied exactly once
    status = second.status()
    assert status["full_resyncs"] == 0, status["full_resync_reason"]  # PSYNC continued the stream
    assert "reading the source again from the destination checkpoint's position" in second.log.read_text()
    assert destination.get(f"dtsctl:fence:{first.task_id}") == b"2"


def test_a_frozen_former_owner_never_commits_after_its_successor_started(setup, tmp_path):
    source, destination, attributes, first, load, tasks = setup
    assert first.process is not None
    first.process.send_signal(signal.SIGSTOP)  # frozen, not gone: its connections stay open
    second = successor(tmp_path, attributes, first, tasks)
    first.process.send_signal(signal.SIGCONT)  # it wakes up with a batch in hand
    assert first.process.wait(timeout=30) == EXIT_FATAL
    load.stop()
    assert "another host took this task over" in first.status()["last_error"]
    assert "stopping connection" in second.log.read_text()  # the frozen owner's connection was killed
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter"))
    wait_for(lambda: destination.get(f"dtsctl:fence:{first.task_id}") == b"2", what="the newest owner's token")


def _batch(*commands: tuple[bytes, ...]) -> Batch:
    batch = Batch(decode, CONNECTOR.count)
    batch.add(1, b"".join(encode(args) for args in ((b"SELECT", 0), *commands)))
    return batch


def test_a_batch_under_an_older_token_is_refused_whole_and_changes_nothing(redis_destination, flush_redis):
    """A successor that could not kill the former owner's connection (no CLIENT KILL permission):
    the former owner's next transaction is aborted by the watch, none of its commands run."""
    destination = flush_redis(redis_destination)
    attributes = attributes_for(endpoint(redis_destination), endpoint(redis_destination))
    spec = lifecycle.pipeline_for(attributes, "fencing-unit").spec
    former = RedisSink(spec)
    try:
        former.fence(1)
        former.apply(_batch((b"SET", b"before", b"1")), {"applied_seq": 1, "fencing_token": 1})
        destination.set("dtsctl:fence:fencing-unit", 2)  # a successor stamped its token
        with pytest.raises(FatalError, match="another host took this task over"):
            former.apply(_batch((b"SET", b"after", b"1"), (b"INCR", b"before")), {"applied_seq": 2, "fencing_token": 1})
        assert destination.get("after") is None and destination.get("before") == b"1"
        with pytest.raises(FatalError, match="another host took this task over"):
            former.clear(0, None)  # a full resync's clear is fenced too
        assert destination.get("before") == b"1"
        assert former.load_checkpoint() == {"applied_seq": 1, "fencing_token": 1}
    finally:
        former.close()
    again = RedisSink(spec)
    try:
        with pytest.raises(FatalError, match="another host took this task over"):
            again.fence(1)  # a former owner starting again never gets in
        again.fence(3)
        again.save_checkpoint({"applied_seq": 5, "fencing_token": 3})
        assert destination.get("dtsctl:fence:fencing-unit") == b"3"
        assert again.clear(0, None) == 1  # `before`; never dtsctl's own keys
        again.apply(_batch((b"SET", b"later", b"1")), {"applied_seq": 6, "fencing_token": 3})  # back in db 0
        assert destination.get("later") == b"1" and again.load_checkpoint()["applied_seq"] == 6
        again.delete_checkpoint()
        assert destination.keys("dtsctl:*") == []
    finally:
        again.close()


def test_a_destination_user_that_may_not_watch_is_told_what_fencing_needs(redis_destination, flush_redis):
    destination = flush_redis(redis_destination)
    destination.acl_setuser("nofence", enabled=True, passwords=["+nofence-pw"], keys=["*"],
                            commands=["+@all", "-watch"])
    try:
        attributes = attributes_for(endpoint(redis_destination),
                                    endpoint(redis_destination, user="nofence", password="nofence-pw"))
        sink = RedisSink(lifecycle.pipeline_for(attributes, "fencing-acl").spec)
        try:
            with pytest.raises(FatalError, match=r"refused to fence this task's former owners .*\+watch"):
                sink.fence(1)
        finally:
            sink.close()
        assert destination.get("dtsctl:fence:fencing-acl") is None
    finally:
        destination.acl_deluser("nofence")


def test_records_around_a_flush_each_end_at_their_own_position(redis_source, redis_destination, flush_redis):
    """A new owner resumes after the last applied record: the writes before a FLUSHDB, the clear
    and the writes after it (read together) must not share one position, or resuming after the
    first would skip the clear."""
    source = flush_redis(redis_source)
    spec = lifecycle.pipeline_for(attributes_for(endpoint(redis_source), endpoint(redis_destination)),
                                  "positions").spec
    reader = RedisSource(spec)
    try:
        reader.open(None, snapshot=True)
        wait_for(lambda: any(control_of(r.data) == {"op": SNAPSHOT_END} for r in reader.read(0.1)[0]),
                 what="the snapshot read")
        pipe = source.pipeline(transaction=False)
        pipe.set("before", 1).flushdb().set("after", 2)
        pipe.execute()
        records: list = []
        wait_for(lambda: records.extend(reader.read(0.1)[0]) or len(records) >= 3, what="the three records")
    finally:
        reader.close()
    offsets = [record.position["offset"] for record in records]
    assert [control_of(record.data) is not None for record in records] == [False, True, False]
    assert offsets == sorted(set(offsets)), offsets  # strictly increasing: each its own position
