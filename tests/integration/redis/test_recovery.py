"""Crashes and lost replication state: kill -9, a source restarted empty, an overflowed backlog."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.integration.agent_process import process_ended
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.redis.conftest import endpoint, key_space, wait_equal, wait_for
from tests.integration.redis.data import seed, write_load


def _fill(client, count: int, prefix: str = "bulk:") -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}{i}", f"value {i}")
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def _with_load(client, action):
    stop = threading.Event()
    writer = threading.Thread(target=write_load, args=(client, "", stop))
    writer.start()
    try:
        action()
        stop.wait(1)
    finally:
        stop.set()
        writer.join()


def test_kill_9_during_snapshot_and_during_stream_loses_and_repeats_nothing(redis_source, redis_destination,
                                                                            flush_redis, make_task):
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    seed(source)
    _fill(source, 30_000)
    task = make_task(endpoint(redis_source), endpoint(redis_destination), throttle={"rps": 15_000, "mbps": 0})

    def crash_twice() -> None:
        task.apply()
        task.wait_status(lambda s: s["phase"] == "full" and s["rows_copied"] > 2000, what="snapshot under way")
        assert task.kill() == -9
        task.start()
        task.wait_incremental(timeout=90)
        task.wait_status(lambda s: s["events_applied"] > 500, what="stream under way")
        assert task.kill() == -9
        task.start()
        task.wait_incremental()

    _with_load(redis_source.client(), crash_twice)
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter"))  # INCRs applied exactly once


def test_source_restarted_without_persistence_resyncs_and_converges(redis_factory, redis_destination, flush_redis,
                                                                    make_task):
    server = redis_factory()
    source, destination = server.client(), flush_redis(redis_destination)
    seed(source)
    task = make_task(endpoint(server), endpoint(redis_destination), on_position_lost="reseed")
    task.apply()
    task.wait_incremental()
    wait_equal(source, destination)
    server.restart()  # no persistence: it comes back empty, with a new replication id
    source = server.client()
    source.set("after:restart", "yes")
    source.rpush("after:list", 1, 2, 3)
    status = task.wait_status(lambda s: s["full_resyncs"] >= 1 and s["phase"] == "incremental", timeout=60,
                              what="a full resync")
    assert "full resync" in status["full_resync_reason"]
    wait_equal(source, destination)
    assert "full resync" in task.log.read_text()


def test_backlog_overflow_while_stopped_fails_clearly_then_reseeds_once_declared(redis_factory, redis_destination,
                                                                               flush_redis, make_task):
    server = redis_factory(config=["repl-backlog-size 16kb"])
    source, destination = server.client(), flush_redis(redis_destination)
    seed(source, count=10)
    task = make_task(endpoint(server), endpoint(redis_destination))
    task.apply()
    task.wait_incremental()
    wait_equal(source, destination)
    assert task.stop() == 0
    _fill(source, 5000, "while-stopped:")  # far more than 16 kB of writes
    source.delete("str:1")
    before = key_space(destination)
    task.start()
    assert task.process is not None and task.process.wait(timeout=60) == EXIT_FATAL
    error = task.status()["last_error"]
    assert "the source can no longer continue its replication stream from" in error, error
    assert "repl-backlog-size" in error and "on_position_lost: reseed" in error, error
    assert key_space(destination) == before, "nothing was cleared or copied"
    task.attributes["on_position_lost"] = "reseed"  # what `apply` does with the declaration changed
    task.write_config()
    task.start()
    status = task.wait_status(lambda s: s["full_resyncs"] == 1 and s["phase"] == "incremental", timeout=60,
                              what="a full resync")
    assert "backlog" in status["full_resync_reason"]
    wait_equal(source, destination)


def test_kill_9_of_the_reader_process_alone_and_of_the_applier_alone_during_the_stream(
        redis_source, redis_destination, flush_redis, make_task):
    """The reader (replica connection) and the applier run in separate processes (issue 14, item 2):
    a killed reader is started again by the same agent and continues with PSYNC; a killed applier
    takes its reader along and the restarted agent resumes from both checkpoints."""
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    seed(source)
    task = make_task(endpoint(redis_source), endpoint(redis_destination))

    def crash_each() -> None:
        task.apply()
        task.wait_incremental()
        reader = task.reader_pid()
        task.wait_status(lambda s: s["events_applied"] > 500, what="stream under way")
        os.kill(reader, signal.SIGKILL)
        task.wait_status(lambda s: s["reader"]["pid"] not in (None, reader), what="a new reader process")
        applied = task.status()["events_applied"]
        task.wait_status(lambda s: s["events_applied"] > applied + 500, what="stream under way again")
        reader = task.reader_pid()
        assert task.kill() == -9  # the agent's main process is the applier
        wait_for(lambda: process_ended(reader), 10, "the reader to end with its agent")
        task.start()
        task.wait_incremental()

    _with_load(redis_source.client(), crash_each)
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter"))  # INCRs applied exactly once
    assert task.status()["full_resyncs"] == 0, "both restarts continued the stream"


@pytest.mark.parametrize("killed", ["agent", "reader"])
def test_a_diskless_snapshot_killed_midway_is_taken_again_and_the_stream_follows_it(redis_factory, redis_destination,
                                                                                    flush_redis, make_task, killed):
    """A source set for diskless sync without delay streams the RDB while its child writes it
    (`capa eof`): no RDB file is written on the source, and kill -9 while it arrives takes it again.
    The reader process cuts the RDB into RESTOREs (the compiled cutter, _rdbcut.c): killed alone
    midway, the agent starts another, which drops the records of the unfinished snapshot."""
    server = redis_factory(config=["repl-diskless-sync-delay 0", "rdb-key-save-delay 50"])  # µs per key saved
    source, destination = server.client(), flush_redis(redis_destination)
    seed(source)
    _fill(source, 30_000)
    task = make_task(endpoint(server), endpoint(redis_destination))

    def crash_while_it_arrives() -> None:
        task.apply()
        wait_for(lambda: "receiving the snapshot (diskless)" in task.log.read_text(), what="a diskless snapshot")
        if killed == "agent":
            assert task.kill() == -9
            task.start()
        else:
            task.wait_status(lambda s: s["phase"] == "full" and s["rows_copied"] > 2000, what="snapshot under way")
            reader = task.reader_pid()
            os.kill(reader, signal.SIGKILL)
            task.wait_status(lambda s: s["reader"]["pid"] not in (None, reader), what="a new reader process")
        task.wait_incremental(timeout=90)

    _with_load(server.client(), crash_while_it_arrives)
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter"))  # INCRs applied exactly once
    assert task.log.read_text().count("receiving the snapshot (diskless)") == 2
    assert not (server.dir / "dump.rdb").exists()
