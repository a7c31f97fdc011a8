"""The snapshot's RDB walk in its child process (dtsctl.connectors.redis.snapshot.RestoreWorker)
gives the payloads the walk gives in the agent's thread, whatever the chunks, says what is wrong
with a bad RDB as the walk does, and never leaves the agent waiting on a dead child."""

from __future__ import annotations

import os
import signal

import pytest

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.resp import decode
from dtsctl.connectors.redis.snapshot import RestorePayloads, RestoreWorker, SnapshotWalk
from dtsctl.engine.errors import ConnectionFailure
from tests.unit.connectors.redis.test_rdb_payloads import SMALL_ENCODINGS, snapshot, write

EVERY_KEY = [{"database": 0, "rename": None, "key_prefixes": None, "extend_ttl_seconds": None}]
CHUNKS = [97, 5000, 1 << 16, 13]  # sizes taken in turn: items straddle every boundary


def chunks(data: bytes) -> list[bytes]:
    out, start, turn = [], 0, 0
    while start < len(data):
        size = CHUNKS[turn % len(CHUNKS)]
        out.append(data[start:start + size])
        start, turn = start + size, turn + 1
    return out


def test_the_child_gives_the_payloads_of_the_walk_in_this_thread(redis_factory, tmp_path) -> None:
    server = redis_factory(config=SMALL_ENCODINGS)
    client = server.client()
    write(client)
    for i in range(3000):  # more than one payload's worth of commands
        client.set(f"bulk:{i}", i)
    data = snapshot(server, tmp_path / "dump.rdb")
    here = RestorePayloads(SnapshotWalk(EVERY_KEY, keep=True), replace=True)
    expected = [payload for chunk in chunks(data) for payload in here.feed(chunk)]
    worker = RestoreWorker(EVERY_KEY, keep=True, replace=True)
    try:
        received = [payload for chunk in chunks(data) for payload in worker.feed(chunk)]
        assert worker.done
    finally:
        worker.close()
    assert received == expected
    restored = {args[1]: args[3] for payload in received for args in decode(payload) if args[0] == b"RESTORE"}
    assert len(restored) == client.dbsize()
    assert restored[b"stream"] == client.dump("stream")


def test_a_bad_rdb_is_reported_as_the_walk_reports_it() -> None:
    data = b"REDIS0011" + bytes([99]) + b"\x01k" + b"\x00" * 16  # value type 99: no Redis writes it
    worker = RestoreWorker(EVERY_KEY, keep=True, replace=True)
    try:
        with pytest.raises(rdb.RdbError, match="key b'k' has RDB value type 99"):
            worker.feed(data)
    finally:
        worker.close()


def test_a_dead_child_is_a_connection_failure_not_a_hang() -> None:
    worker = RestoreWorker(EVERY_KEY, keep=True, replace=True)
    try:
        os.kill(worker._process.pid, signal.SIGKILL)
        worker._process.wait()
        with pytest.raises(ConnectionFailure, match="RDB walk stopped"):
            worker.feed(b"REDIS0011")
    finally:
        worker.close()


def test_closing_ends_the_child() -> None:
    worker = RestoreWorker(EVERY_KEY, keep=True, replace=True)
    worker.feed(b"REDIS0011")
    worker.close()
    assert worker._process.returncode == 0
