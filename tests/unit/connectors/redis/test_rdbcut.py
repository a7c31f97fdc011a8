"""The compiled cutter (_rdbcut.c) gives byte for byte the RESTOREs the Python walk and dump.py
give, covers the common types itself, survives truncated and garbage input, and counts stored
commands as decoding them does."""

from __future__ import annotations

import random
import subprocess

import anycrc
import pytest

from dtsctl.connectors.redis import _rdbcut, rdb
from dtsctl.connectors.redis.dump import restore_command
from dtsctl.connectors.redis.resp import decode, encode
from dtsctl.connectors.redis.selection import OWN_PREFIX
from dtsctl.connectors.redis.snapshot import RestorePayloads, SnapshotWalk
from dtsctl.engine.keyspace.interfaces import Batch
from tests.unit.connectors.redis.test_rdb_payloads import SMALL_ENCODINGS, write


def every_encoding(server, tmp_path, lfu: bool = False) -> bytes:
    """An RDB with every encoding, expires, integer and compressed keys, three databases, and
    dtsctl's own keys; with LFU counters (or LRU idle times) before the keys."""
    client = server.client()
    client.config_set("maxmemory-policy", "allkeys-lfu" if lfu else "allkeys-lru")
    write(client)
    client.set("12345", "integer key")
    client.set("-7", "negative integer key")
    client.set("ab" * 40, "a compressed key")
    client.set("user:1", "one", px=7_200_000)
    client.hset("user:2", mapping={"a": "1"})
    client.set(OWN_PREFIX + b"checkpoint:x", "own")
    client.hset("hashtable hash", "big", "v" * 100)  # a compressed field
    for db in (1, 3):
        client.select(db)
        client.set("user:db", db)
        client.set("other", db, px=1000 * db + 3_600_000)
        client.select(0)
    client.config_set("repl-diskless-sync-delay", 0)
    path = tmp_path / "dump.rdb"
    subprocess.run([*server.cli_args(), "--rdb", str(path)], check=True, capture_output=True)
    return path.read_bytes()


def expected(data: bytes, objects: list[dict], replace: bool) -> list[tuple[int, bytes]]:
    """(destination db, RESTORE) of each selected key by the Python walk and dump.py."""
    walk = SnapshotWalk(objects, keep=True)
    restores = []
    for rule, entry in walk.selected(data):
        restore = restore_command(walk.rdb.version or 0, replace)
        expire_ms = entry.expire_ms
        if expire_ms and rule.extend_ttl:
            expire_ms += rule.extend_ttl * 1000
        restores.append((rule.destination, restore(entry.key, expire_ms or 0, entry.type, entry.encoding)))
    assert walk.done
    return restores


def cut(data: bytes, objects: list[dict], replace: bool, chunk: int) -> list[tuple[int, bytes]]:
    """The same through RestorePayloads (the compiled cutter and the Python walk for the rest)."""
    payloads = RestorePayloads(SnapshotWalk(objects, keep=True), replace)
    restores = []
    for start in range(0, len(data), chunk):
        for payload in payloads.feed(data[start:start + chunk]):
            db = None
            for args in decode(payload):
                if args[0] == b"SELECT":
                    db = int(args[1])
                else:
                    restores.append((db, encode(args)))
    assert payloads.done
    return restores


OBJECTS = {
    "every key": [{"database": 0}, {"database": 1}, {"database": 3}],
    "prefixes, rename, ttl extended": [{"database": 0, "key_prefixes": ["user:", "1"], "extend_ttl_seconds": 60},
                                       {"database": 3, "rename": 5, "extend_ttl_seconds": 10}],
}


@pytest.mark.parametrize("lfu", [False, True])
@pytest.mark.parametrize("selection", sorted(OBJECTS))
@pytest.mark.parametrize("replace", [False, True])
def test_the_cutter_gives_the_python_walks_restores_byte_for_byte(redis_factory, tmp_path, lfu, selection, replace):
    data = every_encoding(redis_factory(config=SMALL_ENCODINGS), tmp_path, lfu)
    reference = expected(data, OBJECTS[selection], replace)
    assert len(reference) >= 5
    for chunk in (len(data), 97, 7):
        assert cut(data, OBJECTS[selection], replace, chunk) == reference


def test_the_cutter_leaves_only_opcodes_streams_and_compressed_keys_to_python(redis_factory, tmp_path):
    data = every_encoding(redis_factory(config=SMALL_ENCODINGS), tmp_path)
    reader = rdb.RdbReader()
    reader.feed(data)
    assert reader.read_header()
    cut_keys, left = 0, []
    while not reader.done:
        _, count, position, stop = _rdbcut.cut(reader.buffer, reader.position, reader.version, True, True,
                                               b"", None, 0, 1 << 30, 1 << 40)
        reader.skip_to(position)
        cut_keys += count
        assert stop == _rdbcut.OTHER
        complete, item = reader.step()
        assert complete
        if isinstance(item, rdb.Entry):
            left.append(item.key)
    assert sorted(left) == [b"ab" * 40, b"stream"]
    assert cut_keys == len(expected(data, OBJECTS["every key"], True)) + 1 - len(left)  # + dtsctl's own key


def test_truncated_or_garbage_input_needs_more_bytes_or_is_left_to_python(redis_factory, tmp_path):
    data = every_encoding(redis_factory(config=SMALL_ENCODINGS), tmp_path)
    start = first_entry(data)
    for end in range(start, len(data)):
        restores, count, position, stop = _rdbcut.cut(data[:end], start, 11, True, True, b"", None, 0, 1 << 30,
                                                      1 << 40)
        assert start <= position <= end and stop in (_rdbcut.NEED_MORE, _rdbcut.OTHER)
    rng = random.Random(14)
    for _ in range(3000):
        garbage = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))
        if rng.random() < 0.5:  # garbage behind a plausible entry start
            garbage = bytes([rng.choice([0, 1, 2, 3, 4, 5, 14, 18, 0xfc, 0xf8])]) + garbage
        restores, count, position, stop = _rdbcut.cut(garbage, 0, 11, False, True, b"", None, 0, 1 << 30, 1 << 40)
        assert 0 <= position <= len(garbage) and stop in (_rdbcut.NEED_MORE, _rdbcut.OTHER, _rdbcut.FULL)
    with pytest.raises(ValueError):
        _rdbcut.cut(data, len(data) + 1, 11, False, True, b"", None, 0, 1, 1)


def first_entry(data: bytes) -> int:
    """Where the RDB's first key starts (after its header and AUX fields)."""
    reader = rdb.RdbReader()
    reader.feed(data)
    reader.read_header()
    while True:
        start = reader.position
        if isinstance(reader.step()[1], rdb.Entry):
            return start


def test_the_cutter_stops_when_a_payload_is_full(redis_factory, tmp_path):
    """Plain keys only: the RDB's key order is its hash table's, so with every encoding the first
    key might be one the cutter leaves to Python (a compressed key)."""
    server = redis_factory()
    server.client().mset({"a": "1", "b": "2", "c": "3"})
    server.client().config_set("repl-diskless-sync-delay", 0)
    path = tmp_path / "dump.rdb"
    subprocess.run([*server.cli_args(), "--rdb", str(path)], check=True, capture_output=True)
    data = path.read_bytes()
    restores, count, _, stop = _rdbcut.cut(data, first_entry(data), 10, False, True, b"", None, 0, 1, 1 << 40)
    assert (count, stop) == (1, _rdbcut.FULL) and restores.startswith(b"*4\r\n$7\r\nRESTORE\r\n")


def test_crc64_is_redis_crc():
    model = anycrc.Model("CRC64-REDIS")
    rng = random.Random(64)
    for size in (0, 1, 7, 8, 9, 63, 1000, 100_000):
        data = rng.randbytes(size)
        assert _rdbcut.crc64(data) == model.calc(data)
    assert _rdbcut.crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def decoded_count(payload: bytes) -> tuple[int, dict[int, int]]:
    size, writes, db = 0, {}, 0
    for args in decode(payload):
        size += 1
        if args[0].lower() == b"select":
            db = int(args[1])
        else:
            writes[db] = writes.get(db, 0) + 1
    return size, writes


def test_count_commands_counts_as_decoding_does():
    rng = random.Random(7)
    for _ in range(300):
        commands = []
        for _ in range(rng.randrange(1, 30)):
            if rng.random() < 0.2:
                commands.append([rng.choice([b"SELECT", b"select", b"SeLeCt"]), str(rng.randrange(16)).encode()])
            else:
                commands.append([b"SET", rng.randbytes(rng.randrange(0, 20)), rng.randbytes(rng.randrange(0, 300))])
        payload = b"".join(encode(args) for args in commands)
        assert _rdbcut.count_commands(payload) == decoded_count(payload)
    batch = Batch(decode, _rdbcut.count_commands)
    batch.add(1, encode([b"SELECT", b"2"]) + encode([b"DEL", b"k"]))
    batch.add(2, encode([b"SET", b"k", b"v"]))
    assert (batch.size, batch.writes) == (3, {2: 1, 0: 1})
    for bad in (b"*1\r\n$3\r\nSE", b"+OK\r\n", b"*2\r\n$6\r\nSELECT\r\n$1\r\nx\r\n", b"*1\r\n$6\r\nSELECT\r\n"):
        with pytest.raises(ValueError):
            _rdbcut.count_commands(bad)


def test_older_encodings_and_expires_in_seconds():
    """Types and opcodes Redis 7 no longer writes (or that this machine's Redis does not): sorted
    sets with doubles as text, the first quicklist, zipmap and ziplist strings, expires in seconds."""
    def string(data: bytes) -> bytes:
        return bytes([len(data)]) + data

    body = (b"\xfe\x00"
            + b"\x03" + string(b"zset") + b"\x03" + string(b"a") + string(b"1.5") + string(b"b") + b"\xfd"
            + string(b"c") + b"\xfe"
            + b"\xfd\x00\xf1\x53\x65" + b"\x0e" + string(b"quicklist") + b"\x02" + string(b"node1") + string(b"node2")
            + b"\x09" + string(b"zipmap") + string(b"\x02zipmap bytes")
            + b"\x0a" + string(b"ziplist") + b"\xc1\x01\x02"  # an integer-encoded string value
            + b"\xfc\x00\x10\x00\x00\x00\x00\x00\x00" + b"\x0c" + string(b"zset ziplist") + string(b"zl"))
    data = b"REDIS0009" + body + b"\xff" + bytes(8)
    objects = [{"database": 0}]
    reference = expected(data, objects, False)
    assert [command.split(b"\r\n")[4] for _, command in reference] == [
        b"zset", b"quicklist", b"zipmap", b"ziplist", b"zset ziplist"]
    assert b"$13\r\n1700000000000\r\n" in reference[1][1]
    for chunk in (len(data), 3, 1):
        assert cut(data, objects, False, chunk) == reference
    _, count, _, stop = _rdbcut.cut(data, 11, 9, False, True, b"", None, 0, 100, 1 << 20)
    assert (count, stop) == (5, _rdbcut.OTHER)  # all of them, up to the end marker
