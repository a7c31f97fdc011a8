"""The repairer (dtsctl.connectors.redis.repair) keeps a connection to the source between requests;
after a Sentinel failover that connection leads to a replica or to nothing, and the request must
still reach the source's current master."""

from __future__ import annotations

import uuid

from dtsctl.connectors.redis.repair import RedisRepairer
from dtsctl.connectors.redis.selection import REPAIR_PREFIX
from dtsctl.runtime import lifecycle


def repairer_of(group) -> tuple[RedisRepairer, str]:
    task_id = str(uuid.uuid4())
    source = {"engine": "redis", "sentinel": {"hosts": group.hosts, "master": "src"}, "user": None,
              "password": None, "cluster": False}
    destination = {"engine": "redis", "host": "127.0.0.1", "port": 1, "user": None, "password": None,
                   "cluster": False}
    attributes = {
        "type": "synchronization", "source": "s", "destination": "d", "phases": ["full", "incremental"],
        "source_endpoint": source, "destination_endpoint": destination,
        "objects": [{"database": 0, "rename": None, "key_prefixes": None, "extend_ttl_seconds": None}],
        "conflict_policy": "overwrite", "throttle": {"rps": 0, "mbps": 0},
        "retry": {"connection_minutes": 1, "other_minutes": 1}, "status": "running", "lifecycle": {},
        "workspace": "/tmp",
    }
    return RedisRepairer(lifecycle.pipeline_for(attributes, task_id).spec), REPAIR_PREFIX + task_id


def test_a_repair_after_a_sentinel_failover_is_written_on_the_new_master(redis_sentinel_factory) -> None:
    group = redis_sentinel_factory(names=("src",))
    repairer, marker = repairer_of(group)
    try:
        group.master("src").client().set("k1", "v1")
        assert repairer.request(0, b"k1")  # keeps its connection to this master
        assert b"k1" in group.master("src").client().get(marker)

        # SENTINEL FAILOVER: the kept connection now leads to a replica (READONLY)
        promoted = group.failover("src").client()
        promoted.set("k2", "v2")
        assert repairer.request(0, b"k2"), "the request reaches the promoted master"
        assert b"k2" in promoted.get(marker)

        # the master dies: the kept connection leads to nothing
        promoted_again = group.failover("src", kill=True).client()
        promoted_again.set("k3", "v3")
        assert repairer.request(0, b"k3"), "the request reaches the master promoted after the kill"
        assert b"k3" in promoted_again.get(marker)
    finally:
        repairer.close()
