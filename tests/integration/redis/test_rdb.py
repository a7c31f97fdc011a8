"""The RDB reader cuts every value's encoding exactly: rebuilt DUMP payloads equal the server's own."""

from __future__ import annotations

import subprocess

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.dump import dump_payload
from tests.integration.redis.data import seed


def test_dump_payloads_rebuilt_from_the_rdb_equal_dump(redis_source, flush_redis, tmp_path):
    client = flush_redis(redis_source)
    seed(client)
    client.select(3)
    client.set("in:db3", "x")
    path = tmp_path / "dump.rdb"
    delay = client.config_get("repl-diskless-sync-delay")["repl-diskless-sync-delay"]
    client.config_set("repl-diskless-sync-delay", 0)  # redis-cli --rdb asks for a diskless transfer
    try:
        subprocess.run([*redis_source.cli_args(), "--rdb", str(path)], check=True, capture_output=True)
    finally:
        client.config_set("repl-diskless-sync-delay", delay)
    reader = rdb.RdbReader()
    data = path.read_bytes()
    entries = []
    for start in range(0, len(data), 777):  # arbitrary chunks: items straddle feeds
        reader.feed(data[start:start + 777])
        entries += [item for item in reader.items() if isinstance(item, rdb.Entry)]
    assert reader.done
    by_db = {0: redis_source.client(db=0), 3: redis_source.client(db=3)}
    assert len(entries) == sum(c.dbsize() for c in by_db.values())
    for entry in entries:
        live = by_db[entry.db]
        assert dump_payload(entry.type, entry.encoding, reader.version) == live.dump(entry.key), entry.key
        ttl = live.pexpiretime(entry.key)
        assert (entry.expire_ms or -1) == ttl, entry.key
