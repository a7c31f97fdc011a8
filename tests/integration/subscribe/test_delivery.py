"""Delivery of the stream to Redis, read with XREADGROUP by another process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_records_reach_a_redis_stream_once_each_in_order_across_an_agent_kill(
        make_task, sqlite_source, redis_destination, flush_redis, key_prefix):
    client = flush_redis(redis_destination)
    stream = f"{key_prefix}changes"
    endpoint = {"engine": "redis", "host": redis_destination.host, "port": redis_destination.port, "user": None,
                "password": redis_destination.password, "path": None, "database": None, "cluster": False}
    task = make_task(deliver_to={"endpoint": endpoint, "stream": stream})
    task.apply()
    for i in range(1, 21):
        sqlite_source.execute(f"INSERT INTO orders (id) VALUES ({i})")
        if i == 10:
            task.kill()
            task.start()
    reader = subprocess.run([sys.executable, "-m", "tests.integration.subscribe.stream_reader",
                             redis_destination.host, str(redis_destination.port), stream, "20"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert reader.returncode == 0, reader.stderr
    records = [json.loads(line) for line in reader.stdout.splitlines()]
    assert [r["after"]["id"] for r in records if r["op"] == "insert"] == list(range(1, 21))
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # every record once, in order
    [(_, fields)] = client.xrange(stream, count=1)
    assert fields[b"seq"] == b"1" and fields[b"op"] == b"begin" and json.loads(fields[b"record"]) == records[0]
    assert task.describe()["delivery"]["seq"] >= records[-1]["seq"]
