"""verify for Redis: per selected database, every key's type and value on both ends.

Values are compared logically (a hash's fields sorted, a stream's entries and
groups), not as DUMP payloads, whose bytes depend on encoding and hash order.
Keys are compared in chunks as the source's SCAN returns them, then the destination
is scanned for keys the source does not have; what differs is settled against the
applier's position (dtsctl.engine.verification.settle). A repair asks the source to
send each differing key again through its own replication stream (connectors/redis/repair.py),
so it reaches the destination in order with every other write.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import redis

from dtsctl.connectors.redis import commands, resp
from dtsctl.connectors.redis.client import connect, connect_cluster
from dtsctl.connectors.redis.freeze import replication_position
from dtsctl.connectors.redis.repair import RedisRepairer
from dtsctl.connectors.redis.selection import DbRule, Selection
from dtsctl.connectors.redis.sink import glob_escape
from dtsctl.engine.events import Position
from dtsctl.engine.keyspace.interfaces import control_of
from dtsctl.engine.verification import (ApplierWatch, Key, ObjectReport, Suspects, Value, VerifyOptions,
                                        VerifyProgress, chosen, compare, held_payloads, repair_log, settle)
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

CHUNK_KEYS = 500


def verify(spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress, watch: ApplierWatch) -> list[ObjectReport]:
    rules = {f"db{rule.source}": rule for rule in Selection(spec.objects).rules.values()}
    payloads = held_payloads(options)
    changed = changed_keys(payloads) if payloads is not None else None
    reports = []
    for name in chosen(rules, options.tables):
        with _Ends(spec, rules[name]) as ends:
            report = ObjectReport(name, f"db{rules[name].destination}")
            progress.object_started(name, ends.source.dbsize() if changed is None else len(changed))
            suspects = ends.scan(report, progress) if changed is None else ends.look_at(changed, report)
            differences, report.changing = settle(suspects, ends.read_source, ends.read_destination, watch)
            report.record(differences)
            if options.repair and report.differences:
                repair_log(options)  # refused unless the task's applier runs
                _repair(spec, rules[name], report, ends, watch)
            reports.append(report)
    return reports


def position_order(position: Position) -> tuple[int]:
    return (int(position["offset"]),)


def describe_position(position: Position) -> str:
    return f"replication offset {position['offset']}"


def _repair(spec: TaskSpec, rule: DbRule, report: ObjectReport, ends: "_Ends", watch: ApplierWatch) -> None:
    keys: list[Key] = [*report.missing, *report.extra, *report.different]
    repairer = RedisRepairer(spec)
    try:
        for key in keys:
            if not repairer.request(rule.destination, key):  # type: ignore[arg-type]
                raise DtsError("the source refused the repair script (it is read-only, or scripting is "
                               "disabled there); nothing more was repaired")
    finally:
        repairer.close()
    present, read_at = ends.read_source(keys)
    report.repaired = {"written": sum(1 for key in keys if present.get(key) is not None),
                       "deleted": sum(1 for key in keys if present.get(key) is None)}
    again = Suspects()
    again.add(keys, present, read_at, position_order)
    report.clear_differences()
    differences, changing = settle(again, ends.read_source, ends.read_destination, watch)
    report.record(differences)
    report.changing += changing


class _Ends:
    """One selected database on both ends: the source node, and the destination node or cluster."""

    def __init__(self, spec: TaskSpec, rule: DbRule) -> None:
        self.rule = rule
        destination = spec.destination_endpoint or {}
        self.source = connect(spec.source_endpoint, "source", rule.source)
        self._cluster = connect_cluster(destination, "destination") if destination.get("cluster") else None
        self.destination = self._cluster or connect(destination, "destination", rule.destination)

    def __enter__(self) -> "_Ends":
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.close()
        self.destination.close()

    def scan(self, report: ObjectReport, progress: VerifyProgress) -> Suspects:
        suspects = Suspects()
        seen: set[bytes] = set()
        for chunk in _chunks(self._keys([self.source])):
            mine, read_at = self.read_source(chunk)
            theirs = self.read_destination(chunk)
            seen.update(chunk)
            report.source_count += sum(1 for value in mine.values() if value is not None)
            suspects.add(compare(mine, theirs), mine, read_at, position_order)
            progress.advanced(len(chunk))
        report.destination_count = 0
        for chunk in _chunks(self._keys(self._destination_nodes())):
            report.destination_count += len(chunk)
            extra = [key for key in chunk if key not in seen]
            if extra:
                mine, read_at = self.read_source(extra)
                suspects.add(compare(mine, self.read_destination(extra)), mine, read_at, position_order)
        return suspects

    def look_at(self, keys: set[bytes], report: ObjectReport) -> Suspects:
        """Suspects among these keys only (those changed since a full comparison)."""
        wanted = sorted(key for key in keys if self.rule.wants(key))
        mine, read_at = self.read_source(wanted)
        theirs = self.read_destination(wanted)
        report.source_count = sum(1 for value in mine.values() if value is not None)
        report.destination_count = sum(1 for value in theirs.values() if value is not None)
        suspects = Suspects()
        suspects.add(compare(mine, theirs), mine, read_at, position_order)
        return suspects

    def read_source(self, keys: Sequence[Key]) -> tuple[dict[Key, Value], Position]:
        values = _values(self.source, keys)
        return values, replication_position(self.source)

    def read_destination(self, keys: Sequence[Key]) -> dict[Key, Value]:
        return _values(self.destination, keys)

    def _destination_nodes(self) -> list[redis.Redis]:
        if self._cluster is None:
            return [self.destination]
        return [self._cluster.get_redis_connection(node) for node in self._cluster.get_primaries()]

    def _keys(self, nodes: Iterable[redis.Redis]) -> Iterator[bytes]:
        rule = self.rule
        for node in nodes:
            for pattern in [glob_escape(p) for p in rule.prefix_strings] if rule.prefixes is not None else ["*"]:
                for key in node.scan_iter(match=pattern, count=1000):
                    if rule.wants(key):
                        yield key


def changed_keys(payloads: Sequence[str | bytes]) -> set[bytes] | None:
    """The keys these change-log records write, in any database; None when one is a control record
    (a snapshot or a clear: compare everything)."""
    keys: set[bytes] = set()
    for payload in payloads:
        assert isinstance(payload, bytes)
        if control_of(payload) is not None:
            return None
        for args in resp.decode(payload):
            keys.update(commands.keys_of(args) or ())
    return keys


def _chunks(keys: Iterator[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == CHUNK_KEYS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _values(client: Any, keys: Sequence[Key]) -> dict[Key, Value]:
    return {key: value_of(client, key) for key in keys}  # type: ignore[arg-type]


def value_of(client: redis.Redis, key: bytes) -> Any:
    """(type, canonical value, has TTL) of a key; None when it does not exist."""
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
        return None
    return kind, value, has_ttl
