"""Snapshot and stream between private Redis servers through the agent process."""

from __future__ import annotations

import threading

from tests.integration.redis.conftest import endpoint, wait_equal
from tests.integration.redis.data import seed, write_load


def test_every_type_with_ttls_under_concurrent_writes_ends_equal(redis_source, redis_destination, flush_redis,
                                                                 make_task):
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    seed(source)
    stop = threading.Event()
    writer = threading.Thread(target=write_load, args=(redis_source.client(), "", stop))
    writer.start()
    try:
        task = make_task(endpoint(redis_source), endpoint(redis_destination))
        task.apply()
        task.wait_incremental()
        stop.wait(2)
    finally:
        stop.set()
        writer.join()
    wait_equal(source, destination)
    status = task.wait_status(lambda s: s["lag_seconds"] is not None and s["events_applied"] > 0)
    assert status["state"] == "running" and status["rows_copied"] >= 400
    assert status["checkpoint"].startswith(source.info("replication")["master_replid"])


def test_cluster_destination_routes_by_slot(redis_source, redis_cluster, flush_redis, make_task):
    source, cluster = flush_redis(redis_source), flush_redis(redis_cluster)
    seed(source, count=20)
    task = make_task(endpoint(redis_source), endpoint(redis_cluster, cluster=True))
    task.apply()
    task.wait_incremental()
    for i in range(200):
        source.set(f"later:{i}", i)
        source.hset(f"h:{i}", "f", i)
    source.incr("later:1")
    source.delete("later:2")
    wait_equal(source, _ClusterView(cluster))
    source.mset({"a": 1, "b": 2})  # different slots: refused with both keys named
    status = task.wait_status(lambda s: s["state"] == "failed", what="failure")
    assert "CROSSSLOT" in status["last_error"] and "a (slot" in status["last_error"] and "b (slot" in status["last_error"]


class _ClusterView:
    """scan_iter over every primary plus per-key reads, enough for key_space()."""

    def __init__(self, cluster):
        self.cluster = cluster

    def scan_iter(self, count=1000):
        for node in self.cluster.get_primaries():
            yield from self.cluster.get_redis_connection(node).scan_iter(count=count)

    def __getattr__(self, name):
        return getattr(self.cluster, name)
