"""The snapshot's RESTORE payloads (dtsctl.connectors.redis.snapshot.RestorePayloads) are the same
whatever chunks the RDB arrives in, carry each key's DUMP, and a bad RDB is reported in the
walk's words."""

from __future__ import annotations

import pytest

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.resp import decode
from dtsctl.connectors.redis.snapshot import RECORD_COMMANDS, RestorePayloads, SnapshotWalk
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


def payloads(data_chunks: list[bytes]) -> list[bytes]:
    restores = RestorePayloads(SnapshotWalk(EVERY_KEY, keep=True), replace=True)
    received = [payload for chunk in data_chunks for payload in restores.feed(chunk)]
    assert restores.done
    return received


def test_payloads_do_not_depend_on_the_chunks_and_carry_each_keys_dump(redis_factory, tmp_path) -> None:
    server = redis_factory(config=SMALL_ENCODINGS)
    client = server.client()
    write(client)
    for i in range(3000):  # more than one payload's worth of commands
        client.set(f"bulk:{i}", i)
    data = snapshot(server, tmp_path / "dump.rdb")
    received = payloads(chunks(data))
    assert received == payloads([data])
    commands = [list(decode(payload)) for payload in received]
    assert all(first[0] == [b"SELECT", b"0"] and len(first) <= RECORD_COMMANDS + 1 for first in commands)
    restored = {args[1]: args[3] for payload in commands for args in payload if args[0] == b"RESTORE"}
    assert len(restored) == client.dbsize()
    assert restored[b"stream"] == client.dump("stream")


def test_a_bad_rdb_is_reported_in_the_walks_words() -> None:
    data = b"REDIS0011" + bytes([99]) + b"\x01k" + b"\x00" * 16  # value type 99: no Redis writes it
    restores = RestorePayloads(SnapshotWalk(EVERY_KEY, keep=True), replace=True)
    with pytest.raises(rdb.RdbError, match="key b'k' has RDB value type 99"):
        restores.feed(data)
