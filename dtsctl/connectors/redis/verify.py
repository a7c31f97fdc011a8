"""verify for Redis: per selected database, key counts and a digest of every key's type and value.

Values are compared logically (a hash's fields sorted, a stream's entries and
groups), not as DUMP payloads, whose bytes depend on encoding and hash order.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import redis

from dtsctl.connectors.redis.client import connect, connect_cluster
from dtsctl.connectors.redis.selection import DbRule, Selection
from dtsctl.connectors.redis.sink import glob_escape
from dtsctl.engine.pipeline import TableComparison
from dtsctl.engine.task import TaskSpec


def verify(spec: TaskSpec) -> list[TableComparison]:
    selection = Selection(spec.objects)
    destination = spec.destination_endpoint or {}
    comparisons = []
    for rule in selection.rules.values():
        source = connect(spec.source_endpoint, "source", rule.source)
        try:
            count, digest = _digest([source], rule)
        finally:
            source.close()
        if destination.get("cluster"):
            cluster = connect_cluster(destination, "destination")
            try:
                nodes = [cluster.get_redis_connection(node) for node in cluster.get_primaries()]
                dest_count, dest_digest = _digest(nodes, rule)
            finally:
                cluster.close()
        else:
            target = connect(destination, "destination", rule.destination)
            try:
                dest_count, dest_digest = _digest([target], rule)
            finally:
                target.close()
        comparisons.append(TableComparison(f"db{rule.source}", f"db{rule.destination}", count, dest_count,
                                           digest == dest_digest))
    return comparisons


def _digest(nodes: Iterable[redis.Redis], rule: DbRule) -> tuple[int, str]:
    entries = []
    for node in nodes:
        for pattern in [glob_escape(p) for p in rule.prefix_strings] if rule.prefixes is not None else ["*"]:
            for key in node.scan_iter(match=pattern, count=1000):
                if rule.wants(key):
                    entries.append((key, repr(value_of(node, key))))
    entries.sort()
    digest = hashlib.sha256()
    for key, value in entries:
        digest.update(key + b"\0" + value.encode() + b"\0")
    return len(entries), digest.hexdigest()


def value_of(client: redis.Redis, key: bytes) -> Any:
    """(type, canonical value, has TTL) of a key."""
    kind = client.type(key).decode()
    has_ttl = client.pttl(key) > 0
    if kind == "string":
        value: Any = client.get(key)
    elif kind == "list":
        value = client.lrange(key, 0, -1)
    elif kind == "hash":
        value = sorted(client.hgetall(key).items())
    elif kind == "set":
        value = sorted(client.smembers(key))
    elif kind == "zset":
        value = client.zrange(key, 0, -1, withscores=True)
    elif kind == "stream":
        groups = [(g["name"], g["last-delivered-id"], g["pending"]) for g in client.xinfo_groups(key)]
        value = (client.xrange(key), sorted(groups))
    else:
        value = None
    return kind, value, has_ttl
