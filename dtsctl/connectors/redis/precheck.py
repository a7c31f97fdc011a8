"""Precheck of a Redis task: every check says what is wrong and what to change."""

from __future__ import annotations

import time
from typing import Any

import redis

from dtsctl.connectors.redis.client import connect, connect_cluster
from dtsctl.connectors.redis.selection import CHECKPOINT_PREFIX, OWN_PREFIX, Selection
from dtsctl.connectors.redis.sink import glob_escape
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.pipeline import CheckResult
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

EVICTING = ("allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random",
            "volatile-ttl")
BACKLOG_SECONDS = 60  # the backlog should hold this long of writes, enough for an agent restart
WRITE_RATE_SAMPLE_SECONDS = 0.5
CONFLICTS_SHOWN = 5


def precheck(spec: TaskSpec) -> list[CheckResult]:
    destination = spec.destination_endpoint
    if destination is None or destination.get("engine") != "redis":
        engine = None if destination is None else destination.get("engine")
        return [CheckResult("objects", False, f"a Redis source can only be replicated to Redis, not to {engine}; "
                                              "fix `destination`")]
    try:
        selection = Selection(spec.objects)
    except DtsError as exc:
        return [CheckResult("objects", False, str(exc))]
    results: list[CheckResult] = []
    if spec.source_endpoint.get("cluster"):
        return [CheckResult("objects", False, "a Redis Cluster source is not supported; declare one task per "
                                              "shard primary with `cluster: false`")]
    try:
        source = connect(spec.source_endpoint, "source")
    except DtsError as exc:
        return [CheckResult("connectivity", False, str(exc))]
    try:
        results.append(CheckResult("connectivity", True, "source is reachable"))
        try:
            target = _Destination(destination)
        except DtsError as exc:
            return [*results, CheckResult("connectivity", False, str(exc))]
        try:
            results.append(CheckResult("connectivity", True, "destination is reachable"))
            databases = _databases(source, target, selection)
            results += _versions(source, target) + databases + _memory(source, target) + _backlog(source)
            # Keys can only be looked for in databases that exist; without a snapshot they are expected.
            if all(check.ok for check in databases) and "full" in spec.phases:
                results += _conflicts(spec, target, selection)
        finally:
            target.close()
    finally:
        source.close()
    return results


class _Destination:
    """A standalone destination, or every primary of a cluster."""

    def __init__(self, endpoint: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.cluster = bool(endpoint.get("cluster"))
        if self.cluster:
            self._cluster = connect_cluster(endpoint, "destination")
            self.nodes = [self._cluster.get_redis_connection(node) for node in self._cluster.get_primaries()]
        else:
            self.nodes = [connect(endpoint, "destination")]

    def info(self, section: str) -> dict[str, Any]:
        return self.nodes[0].info(section)

    def close(self) -> None:
        if self.cluster:
            self._cluster.close()
        else:
            self.nodes[0].close()


def _versions(source: redis.Redis, target: _Destination) -> list[CheckResult]:
    have = source.info("server")["redis_version"]
    want = target.info("server")["redis_version"]
    if _version(want) < _version(have):
        return [CheckResult("version", False, f"the destination runs Redis {want}, older than the source's {have}; "
                                              f"use a destination with Redis {have} or newer")]
    return [CheckResult("version", True, f"destination Redis {want} >= source Redis {have}")]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def _config(client: redis.Redis, name: str) -> str | None:
    """A server setting, or None when the user may not read it (CONFIG is often restricted)."""
    try:
        return client.config_get(name).get(name)
    except redis.ResponseError:
        return None


def _databases(source: redis.Redis, target: _Destination, selection: Selection) -> list[CheckResult]:
    results = []
    count = int(_config(source, "databases") or 16)
    for db in selection.rules:
        if db >= count:
            results.append(CheckResult("objects", False, f"the source has databases 0 to {count - 1}; "
                                                         f"database {db} does not exist: fix `objects`"))
    if target.cluster:
        wrong = [db for db in selection.destination_dbs if db != 0]
        if wrong or len(selection.destination_dbs) > 1:
            results.append(CheckResult("objects", False, "a Redis Cluster destination has only db 0: select one "
                                                         "database and `rename` it to 0"))
    else:
        limit = int(_config(target.nodes[0], "databases") or 16)
        for db in selection.destination_dbs:
            if db >= limit:
                results.append(CheckResult("objects", False, f"the destination has databases 0 to {limit - 1}; "
                                                             f"db {db} does not exist there: fix `rename`"))
    return results or [CheckResult("objects", True, f"databases {sorted(selection.rules)} are selected")]


def _memory(source: redis.Redis, target: _Destination) -> list[CheckResult]:
    results = []
    for node in target.nodes:
        policy = _config(node, "maxmemory-policy")
        if policy in EVICTING:
            results.append(CheckResult(
                "memory", False, f"destination maxmemory-policy is {policy}: it may evict replicated keys; "
                "set it to noeviction (CONFIG SET maxmemory-policy noeviction)", warning=True))
            break
    needed = int(source.info("memory")["used_memory"])
    free = 0
    for node in target.nodes:
        memory = node.info("memory")
        limit = int(memory.get("maxmemory") or 0)
        if limit == 0:
            free = -1
            break
        free += max(0, limit - int(memory["used_memory"]))
    if 0 <= free < needed:
        results.append(CheckResult("memory", False, f"the destination has {_mb(free)} free under maxmemory but the "
                                                    f"source uses {_mb(needed)}; raise maxmemory on the destination"))
    else:
        results.append(CheckResult("memory", True, f"the destination has room for the source's {_mb(needed)}"))
    return results


def _backlog(source: redis.Redis) -> list[CheckResult]:
    """The backlog must survive an agent restart under the current write rate, or every restart resyncs.

    What the source propagates is about what its clients send it (less the reads; more only for
    scripts whose few bytes write much), whose rate over its last 1.6 s the server keeps: the
    propagated bytes are sampled only when that rate could outgrow the backlog."""
    size = int(_config(source, "repl-backlog-size") or 0)
    received = float(source.info("stats").get("instantaneous_input_kbps", "inf")) * 1024
    if size and size < received * BACKLOG_SECONDS:
        first = int(source.info("replication")["master_repl_offset"])
        time.sleep(WRITE_RATE_SAMPLE_SECONDS)
        rate = (int(source.info("replication")["master_repl_offset"]) - first) / WRITE_RATE_SAMPLE_SECONDS
        wanted = int(rate * BACKLOG_SECONDS)
        if size < wanted:
            return [CheckResult("backlog", False, f"repl-backlog-size is {_mb(size)} but the source writes "
                                f"{_mb(int(rate))}/s; set repl-backlog-size to at least {wanted} "
                                f"(CONFIG SET repl-backlog-size {wanted}) or a restart of the agent needs a full "
                                "resync", warning=True)]
    return [CheckResult("backlog", True, f"repl-backlog-size {_mb(size)} holds {BACKLOG_SECONDS}s of writes")]


def _conflicts(spec: TaskSpec, target: _Destination, selection: Selection) -> list[CheckResult]:
    resuming = _has_checkpoint(spec, target)
    if resuming:
        return [CheckResult("conflicts", True, "the destination holds this task's checkpoint: resuming")]
    results = []
    for rule in selection.rules.values():
        found = _some_keys(target, rule.destination, rule.prefix_strings)
        if not found:
            continue
        where = f"destination db {rule.destination}" + (f" under {rule.prefix_strings}" if rule.prefixes else "")
        shown = ", ".join(k.decode(errors="replace") for k in found[:CONFLICTS_SHOWN])
        if spec.conflict_policy is ConflictPolicy.FAIL:
            results.append(CheckResult("conflicts", False, f"{where} already holds keys ({shown}); empty it, "
                                       "`rename` to another database, or set conflict_policy to ignore or overwrite"))
        else:
            verb = "kept" if spec.conflict_policy.keeps_destination else "overwritten"
            results.append(CheckResult("conflicts", True, f"{where} already holds keys ({shown}); same keys are "
                                       f"{verb} (conflict_policy {spec.conflict_policy.value})", warning=True))
    return results or [CheckResult("conflicts", True, "no conflicting keys on the destination")]


def _has_checkpoint(spec: TaskSpec, target: _Destination) -> bool:
    pattern = glob_escape(CHECKPOINT_PREFIX + spec.task_id)
    return any(next(iter(node.scan_iter(match=pattern, count=1000)), None) is not None for node in target.nodes)


def _some_keys(target: _Destination, db: int, prefixes: list[str] | None) -> list[bytes]:
    found: list[bytes] = []
    for node in target.nodes:
        client = node if target.cluster else connect(target.endpoint, "destination", db)
        try:
            for pattern in [glob_escape(p) for p in prefixes] if prefixes is not None else ["*"]:
                for key in client.scan_iter(match=pattern, count=1000):
                    if not key.startswith(OWN_PREFIX):
                        found.append(key)
                        if len(found) >= CONFLICTS_SHOWN:
                            return found
        finally:
            if client is not node:
                client.close()
    return found


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
