"""The RDB walk slices each value's encoding out exactly: the RESTORE payload built from the slice
equals the server's own DUMP byte for byte, for every encoding Redis 7 writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.dump import dump_payload, restore_command
from dtsctl.connectors.redis.resp import encode

# Small thresholds so that a few elements give each compact and each large encoding.
SMALL_ENCODINGS = ["hash-max-listpack-entries 4", "zset-max-listpack-entries 4", "set-max-intset-entries 8",
                   "list-max-listpack-size 4", "list-compress-depth 1",
                   "rdbcompression yes"]

# key -> the OBJECT ENCODING it must have, so that each encoding is really covered
ENCODINGS = {
    "short string": "embstr", "int string": "int", "large string": "raw", "lzf string": "raw",
    "listpack list": None, "quicklist": "quicklist", "compressed quicklist": "quicklist",
    "listpack hash": "listpack", "hashtable hash": "hashtable",
    "intset": "intset", "hashtable set": "hashtable",
    "listpack zset": "listpack", "skiplist zset": "skiplist", "stream": "stream",
}


def write(client) -> None:
    client.set("short string", "abc")
    client.set("int string", 123456789)
    client.set("large string", bytes(range(256)) * 300)
    client.set("lzf string", "compress me " * 5000)
    client.rpush("listpack list", "a", "b")  # a one-node quicklist before Redis 7.2
    client.rpush("quicklist", *[f"item {i}" for i in range(40)])
    client.rpush("compressed quicklist", *["long repeated element " * 20 for _ in range(40)])
    client.hset("listpack hash", mapping={"f": "v", "n": 1})
    client.hset("hashtable hash", mapping={f"f{i}": f"v{i}" for i in range(10)})
    client.sadd("intset", 1, 2, 300000)
    client.sadd("hashtable set", *[f"m{i}" for i in range(10)])
    client.zadd("listpack zset", {"a": 1.5, "b": 2})
    client.zadd("skiplist zset", {f"m{i}": i / 3 for i in range(10)})
    for i in range(30):
        client.xadd("stream", {"n": i})
    client.xgroup_create("stream", "group", id="0")
    client.xreadgroup("group", "consumer", {"stream": ">"}, count=3)
    client.pexpire("large string", 3_600_000)


def snapshot(server, path: Path) -> bytes:
    server.client().config_set("repl-diskless-sync-delay", 0)
    subprocess.run([*server.cli_args(), "--rdb", str(path)], check=True, capture_output=True)
    return path.read_bytes()


@pytest.fixture
def server(redis_factory):
    return redis_factory(config=SMALL_ENCODINGS)


@pytest.mark.parametrize("chunk", [1 << 20, 97])  # whole, and items straddling every feed
def test_payload_sliced_from_the_rdb_equals_dump(server, tmp_path, chunk):
    client = server.client()
    write(client)
    for key, encoding in ENCODINGS.items():
        if encoding is not None:
            assert client.object("encoding", key).decode() == encoding, key
    data = snapshot(server, tmp_path / "dump.rdb")
    reader = rdb.RdbReader()
    entries = []
    for start in range(0, len(data), chunk):
        reader.feed(data[start:start + chunk])
        entries += [item for item in reader.items() if isinstance(item, rdb.Entry)]
    assert reader.done
    assert sorted(entry.key.decode() for entry in entries) == sorted(ENCODINGS)
    for entry in entries:
        assert dump_payload(entry.type, entry.encoding, reader.version) == client.dump(entry.key), entry.key
    expires = {entry.key: entry.expire_ms for entry in entries}
    assert expires[b"large string"] == client.pexpiretime("large string")
    assert expires[b"short string"] is None


@pytest.mark.parametrize("ttl, replace", [(0, False), (0, True), (1_700_000_000_000, False), (17, True)])
def test_restore_command_is_the_resp_encoding_of_its_arguments(ttl, replace):
    payload = dump_payload(0, b"\x07payload", 11)
    args = [b"RESTORE", b"key\r\n", str(ttl).encode(), payload]
    args += [b"ABSTTL"] if ttl else []
    args += [b"REPLACE"] if replace else []
    assert restore_command(11, replace)(b"key\r\n", ttl, 0, b"\x07payload") == encode(args)

