"""Subscription tasks on a Redis source (the private `redis_source` server), read through the SDK.

The agent runs as a real subprocess reading the source as a replica (PSYNC). Writes of every
data type become `update`/`delete` records naming `db:key`, MULTI/EXEC becomes begin/commit
with one xid, `key_prefixes` filters, the snapshot (with `full`) becomes `insert` records with
DUMP payloads, offsets survive consumer restarts, and an agent killed with kill -9 resumes
with PSYNC, losing and repeating nothing.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dtsctl.subscribe import Subscriber
from tests.integration.subscribe.conftest import SubscriptionTask, wait_for


@dataclass
class RedisDriver:
    """A `SourceDriver` for db 0 of a Redis server, keys under `prefix` selected."""

    server: Any
    prefix: str
    object_name: str = "0"

    @property
    def endpoint(self) -> dict[str, Any]:
        return {"engine": "redis", "host": self.server.host, "port": self.server.port, "user": None,
                "password": getattr(self.server, "password", None), "path": None, "database": None,
                "cluster": False}

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [{"database": 0, "tables": None, "all": False, "rename": None, "table_rename": {}, "filter": {},
                 "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": [self.prefix],
                 "collections": None, "extend_ttl_seconds": None}]

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None:
        raise NotImplementedError("Redis sources take commands: use the client")


class RedisSubscription(SubscriptionTask):
    phases: list[str] = ["incremental"]

    def attributes(self) -> dict[str, Any]:
        return {**super().attributes(), "phases": list(self.phases)}


@pytest.fixture
def redis_task(tmp_path: Path, redis_source: Any, flush_redis: Any, key_prefix: str) -> Any:
    client = flush_redis(redis_source)
    tasks: list[RedisSubscription] = []

    def make(phases: tuple[str, ...] = ("incremental",), groups: tuple[str, ...] = ("g",)) -> RedisSubscription:
        task = RedisSubscription(tmp_path, RedisDriver(redis_source, key_prefix),
                                 {name: {"start": "latest"} for name in groups})
        task.phases = list(phases)
        tasks.append(task)
        return task

    make.client = client  # type: ignore[attr-defined]
    make.prefix = key_prefix  # type: ignore[attr-defined]
    yield make
    for task in tasks:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()


def read(subscriber: Subscriber, until: Any, timeout: float = 15.0) -> list[Any]:
    """Records (heartbeats left out) until `until(records)` holds."""
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while not until(records):
        assert time.monotonic() < deadline, f"timed out; read so far: {[(r.op, r.object) for r in records]}"
        record = subscriber.next_record(0.5)
        if record is not None and record.op != "heartbeat":
            records.append(record)
    return records


def data_records(records: list[Any]) -> list[tuple[str, str | None]]:
    return [(r.op, r.object) for r in records if r.op not in ("begin", "commit")]


def test_writes_of_every_type_become_records_per_key_with_multi_exec_as_one_transaction(redis_task):
    task = redis_task()
    task.apply()
    client, p = redis_task.client, redis_task.prefix
    client.set(p + "s", "v1")
    client.hset(p + "h", mapping={"name": "ann", "age": "7"})
    client.lpush(p + "l", "a", "b")
    client.sadd(p + "set", "x")
    client.zadd(p + "z", {"m": 1.5})
    stream_id = client.xadd(p + "x", {"f": "v"})
    client.incr(p + "n")
    client.expire(p + "s", 100)
    client.set("elsewhere:k", "not selected")  # outside key_prefixes: no record
    client.delete(p + "l", p + "set")  # one record per key
    client.rename(p + "h", p + "h2")
    client.set(p + "bin", b"\xff\x00")
    with client.pipeline(transaction=True) as pipe:  # MULTI ... EXEC
        pipe.set(p + "t1", "1").incr(p + "t2").execute()
    client.set(p + "last", "done")

    o = "0:" + p
    with Subscriber(task.dir, None, "g") as subscriber:
        records = read(subscriber, lambda rs: any(r.object == o + "last" for r in rs))
        subscriber.commit()
    assert data_records(records) == [
        ("update", o + "s"), ("update", o + "h"), ("update", o + "l"), ("update", o + "set"), ("update", o + "z"),
        ("update", o + "x"), ("update", o + "n"), ("update", o + "s"),
        ("delete", o + "l"), ("delete", o + "set"),
        ("delete", o + "h"), ("update", o + "h2"),
        ("update", o + "bin"),
        ("update", o + "t1"), ("update", o + "t2"),
        ("update", o + "last"),
    ]
    by: dict[tuple[str, str | None], Any] = {}
    for r in records:
        by.setdefault((r.op, r.object), r)  # the first record of each (op, object)
    set_record = by[("update", o + "s")]
    assert set_record.after["command"] == ["SET", p + "s", "v1"]
    assert set_record.after == {"db": 0, "key": p + "s", "type": "string", "command": set_record.after["command"],
                                "command_encoding": "text"}
    assert by[("update", o + "h")].after["type"] == "hash"
    assert by[("update", o + "h")].after["command"][0].upper() in ("HSET", "HMSET")
    assert by[("update", o + "l")].after["type"] == "list"
    assert by[("update", o + "set")].after["type"] == "set"
    assert by[("update", o + "z")].after["type"] == "zset"
    xadd = by[("update", o + "x")].after
    assert xadd["type"] == "stream" and xadd["command"][0].upper() == "XADD" and stream_id.decode() in xadd["command"]
    assert by[("update", o + "n")].after["command"] == ["INCRBY", p + "n", "1"]  # redis-py sends INCR as INCRBY 1
    assert by[("update", o + "n")].after["type"] == "string"
    expire = [r for r in records if r.object == o + "s"][1].after
    assert expire["command"][0].upper() in ("PEXPIREAT", "EXPIRE", "EXPIREAT", "PEXPIRE") and expire["type"] is None
    deleted = by[("delete", o + "l")]
    assert deleted.after is None and deleted.before["key"] == p + "l" and deleted.before["command"][0].upper() == "DEL"
    # the two keys of one DEL, and both halves of RENAME, are one command: one xid each, no begin/commit
    assert by[("delete", o + "l")].xid == by[("delete", o + "set")].xid == by[("delete", o + "l")].seq
    assert by[("delete", o + "h")].xid == by[("update", o + "h2")].xid
    binary = by[("update", o + "bin")].after
    assert binary["command_encoding"] == "base64"
    assert [base64.b64decode(arg) for arg in binary["command"]][:3] == [b"SET", (p + "bin").encode(), b"\xff\x00"]
    # MULTI/EXEC: begin, the records, commit, all with the begin's seq as xid
    begin = next(r for r in records if r.op == "begin")
    commit = next(r for r in records if r.op == "commit")
    inside = [r for r in records if begin.seq < r.seq < commit.seq]
    assert [(r.op, r.object) for r in inside] == [("update", o + "t1"), ("update", o + "t2")]
    assert begin.xid == commit.xid == begin.seq and all(r.xid == begin.seq for r in inside)
    assert commit.position["offset"] > begin.position["offset"]
    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    positions = [r.position["offset"] for r in records]
    assert positions == sorted(positions)
    assert all(r.object is None or r.object.startswith(o) for r in records)  # key_prefixes filtered the rest

    # the group's offset survives a consumer restart
    client.set(p + "after_restart", "1")
    client.set(p + "ttl", "1", px=100)  # Redis propagates the expiry as DEL/UNLINK: a `delete` record
    with Subscriber(task.dir, None, "g") as subscriber:
        again = read(subscriber, lambda rs: any(r.op == "delete" for r in rs))
    assert data_records(again) == [("update", o + "after_restart"), ("update", o + "ttl"), ("delete", o + "ttl")]
    assert again[-1].before["command"][0].upper() in ("DEL", "UNLINK")


def test_snapshot_with_full_is_insert_records_with_dump_payloads(redis_task):
    client, p = redis_task.client, redis_task.prefix
    client.hset(p + "h", mapping={"a": "1", "b": "2"})
    client.set(p + "s", "value", px=600_000)
    client.set("other:k", "not selected")
    task = redis_task(phases=("full", "incremental"))
    task.apply()
    client.set(p + "after", "x")
    with Subscriber(task.dir, None, "g") as subscriber:
        records = read(subscriber, lambda rs: any(r.object == f"0:{p}after" for r in rs))
    begin, *inserts, commit, after = records
    assert begin.op == "begin" and commit.op == "commit" and begin.xid == commit.xid == begin.seq
    assert sorted((r.op, r.object) for r in inserts) == [("insert", f"0:{p}h"), ("insert", f"0:{p}s")]
    assert all(r.xid == begin.seq for r in inserts)
    by_key = {r.after["key"]: r.after for r in inserts}
    assert by_key[p + "h"]["type"] == "hash" and by_key[p + "s"]["type"] == "string"
    assert isinstance(by_key[p + "h"]["value"], bytes)  # the SDK gives the DUMP payload back as bytes
    assert by_key[p + "s"]["expire_ms"] > time.time() * 1000
    client.restore(p + "copy", 0, by_key[p + "h"]["value"])  # a payload RESTOREs as it is
    assert client.hgetall(p + "copy") == {b"a": b"1", b"b": b"2"}
    assert (after.op, after.object) == ("update", f"0:{p}after")


def test_agent_killed_mid_stream_resumes_with_psync_and_loses_or_repeats_nothing(redis_task):
    task = redis_task()
    task.apply()
    client, p = redis_task.client, redis_task.prefix
    total = 3000
    done = threading.Event()

    def write() -> None:
        for index in range(1, total + 1):
            client.set(f"{p}k{index}", index)
            if index % 50 == 0:
                time.sleep(0.03)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[int] = []
    with Subscriber(task.dir, None, "g") as subscriber:
        seen += [int(r.object.rsplit("k", 1)[1]) for r in read(subscriber, lambda rs: len(rs) >= 200)]
        subscriber.commit()
        task.kill()  # kill -9 while writes go on
        assert not done.is_set()
        time.sleep(0.3)
        task.start()
        rest = read(subscriber, lambda rs: len(rs) >= total - len(seen), timeout=30)
        seen += [int(r.object.rsplit("k", 1)[1]) for r in rest]
        subscriber.commit()
    writer.join()
    assert done.is_set()
    assert seen == list(range(1, total + 1))
    log = (task.dir / "agent.log").read_text()
    assert "continuing replication" in log  # PSYNC continued from the checkpoint, no full resync
    wait_for(lambda: task.status().get("full_resyncs") == 0, 5, "status")
