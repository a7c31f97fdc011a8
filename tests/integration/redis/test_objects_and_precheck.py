"""Objects (databases, rename, key prefixes, TTL extension) and precheck failures."""

from __future__ import annotations

import subprocess
import threading

from dtsctl.runtime import lifecycle
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.redis.conftest import attributes_for, endpoint, objects, wait_equal, wait_for
from tests.integration.redis.data import write_load


def test_prefix_filter_db_rename_and_ttl_extension(redis_source, redis_destination, flush_redis, make_task):
    flush_redis(redis_source)
    flush_redis(redis_destination)
    source, destination = redis_source.client(db=0), redis_destination.client(db=1)
    source.set("user:1", "a", ex=100)
    source.set("order:1", "skipped")
    task = make_task(endpoint(redis_source), endpoint(redis_destination),
                     objects=objects({"database": 0, "rename": 1, "key_prefixes": ["user:"], "extend_ttl_seconds": 50}))
    task.apply()
    task.wait_incremental()
    source.hset("user:2", "f", "v")
    source.set("order:2", "skipped")
    source.expire("user:2", 200)
    source.rename("user:2", "user:3")
    wait_for(lambda: destination.exists("user:3") and destination.ttl("user:3") > 0, what="user:3")
    assert sorted(destination.keys()) == [b"user:1", b"user:3"]
    assert 140 <= destination.ttl("user:1") <= 150 and 240 <= destination.ttl("user:3") <= 250
    assert redis_destination.client(db=0).dbsize() == 1  # only the checkpoint key
    source.rename("user:1", "order:9")  # mixes a selected and an unselected key
    status = task.wait_status(lambda s: s["state"] == "failed", what="failure")
    assert "RENAME" in status["last_error"] and "user:1" in status["last_error"] and "key_prefixes" in status["last_error"]
    assert task.process.wait(timeout=10) == EXIT_FATAL
    task.teardown()
    assert not redis_source.client().exists(f"dtsctl:heartbeat:{task.task_id}")
    assert redis_destination.client(db=0).dbsize() == 0


def test_migration_copies_the_snapshot_and_completes(redis_source, redis_destination, flush_redis, make_task):
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    for i in range(100):
        source.set(f"k{i}", i)
    task = make_task(endpoint(redis_source), endpoint(redis_destination), type="migration", phases=["full"])
    task.apply()
    assert task.process.wait(timeout=30) == 0
    assert task.status()["state"] == "completed"
    wait_equal(source, destination, timeout=5)


def _failures(attributes):
    return [c.message for c in lifecycle.precheck(attributes, "t") if not c.ok and not c.warning]


def test_precheck_failures_each_say_what_to_change(redis_source, redis_destination, redis_factory, flush_redis):
    flush_redis(redis_source)
    flush_redis(redis_destination).set("taken", 1)
    secured = redis_factory(password="s3cret", config=["maxmemory 1mb", "maxmemory-policy allkeys-lru",
                                                       "repl-backlog-size 16kb"])
    src, dst = endpoint(redis_source), endpoint(redis_destination)

    [conflict] = _failures(attributes_for(src, dst))
    assert "taken" in conflict and "conflict_policy" in conflict
    assert not _failures(attributes_for(src, dst, conflict_policy="overwrite"))

    [auth] = _failures(attributes_for(src, endpoint(secured, password="wrong")))
    assert "refused the password" in auth and "password" in auth
    [noauth] = _failures(attributes_for(src, endpoint(secured, password=None)))
    assert "requires a password" in noauth
    [acl] = _failures(attributes_for(src, endpoint(secured, user="nobody")))
    assert "user nobody" in acl

    redis_source.client().set("big", "x" * 2_000_000)
    checks = lifecycle.precheck(attributes_for(src, endpoint(secured)), "t")
    [memory] = [c.message for c in checks if not c.ok and not c.warning]
    assert "maxmemory" in memory
    [eviction] = [c.message for c in checks if c.warning and c.name == "memory"]
    assert "noeviction" in eviction

    [unreachable] = _failures(attributes_for(src, endpoint(redis_destination, port=1)))
    assert "cannot connect" in unreachable
    [database] = _failures(attributes_for(src, dst, objects=objects({"database": 0, "rename": 99})))
    assert "rename" in database


def test_the_backlog_warning_samples_a_busy_source_only(redis_factory, redis_destination, flush_redis, tmp_path):
    source = redis_factory(config=["repl-backlog-size 16kb"])
    flush_redis(redis_destination)
    attributes = attributes_for(endpoint(source), endpoint(redis_destination))

    def backlog() -> tuple[bool, str]:
        [check] = [c for c in lifecycle.precheck(attributes, "t") if c.name == "backlog"]
        return check.ok, check.message

    assert backlog() == (True, "repl-backlog-size 0.0 MB holds 60s of writes")  # idle: not sampled
    # The source keeps a backlog (and its offset moves) once a replica has connected.
    subprocess.run([*source.cli_args(), "--rdb", str(tmp_path / "dump.rdb")], check=True, capture_output=True)
    stop = threading.Event()
    writer = threading.Thread(target=write_load, args=(source.client(), "busy:", stop))
    writer.start()
    try:
        wait_for(lambda: float(source.client().info("stats")["instantaneous_input_kbps"]) > 1, what="input")
        ok, message = backlog()
    finally:
        stop.set()
        writer.join()
    assert not ok and "set repl-backlog-size to at least" in message
