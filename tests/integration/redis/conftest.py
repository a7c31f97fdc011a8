"""Helpers for Redis integration tests: private servers and the agent as a real subprocess."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import redis

from dtsctl.runtime import lifecycle
from tests.integration.agent_process import AgentProcess
from tests.integration.agent_process import wait_for as shared_wait_for


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """As the shared wait_for, with a longer default: snapshots and resyncs take a while."""
    return shared_wait_for(predicate, timeout, what)


def endpoint(server: Any, cluster: bool = False, **overrides: Any) -> dict[str, Any]:
    node = server.nodes[0] if cluster else server
    return {"engine": "redis", "host": node.host, "port": node.port, "user": None,
            "password": getattr(server, "password", None), "path": None, "database": None, "cluster": cluster,
            **overrides}


def objects(*selections: dict[str, Any]) -> list[dict[str, Any]]:
    defaults = {"tables": None, "all": False, "rename": None, "table_rename": {}, "filter": {},
                "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": None, "collections": None,
                "extend_ttl_seconds": None}
    return [{**defaults, **selection} for selection in selections]


def attributes_for(source: dict[str, Any], destination: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    attributes = {
        "type": "synchronization", "source": "src", "destination": "dst",
        "source_endpoint": source, "destination_endpoint": destination,
        "phases": ["full", "incremental"], "objects": objects({"database": 0}), "conflict_policy": "fail",
        "throttle": {"rps": 0, "mbps": 0}, "retry": {"connection_minutes": 720, "other_minutes": 10},
        "status": "running", "lifecycle": {"prevent_destroy": False}, "workspace": "/tmp",
    }
    attributes.update(overrides)
    return attributes


@dataclass
class Task(AgentProcess):
    dir: Path
    attributes: dict[str, Any]
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None
    precheck_on_apply = True

    def wait_incremental(self, timeout: float = 60.0) -> dict[str, Any]:
        return super().wait_incremental(timeout)

    def teardown(self) -> None:
        lifecycle.teardown(self.attributes, self.task_id)


@pytest.fixture
def make_task(tmp_path: Path) -> Any:
    tasks: list[Task] = []

    def make(source: dict[str, Any], destination: dict[str, Any], **overrides: Any) -> Task:
        task_dir = tmp_path / f"task{len(tasks)}"
        task_dir.mkdir()
        task = Task(task_dir, attributes_for(source, destination, **overrides))
        tasks.append(task)
        return task

    yield make
    for task in tasks:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()


# -- comparing key spaces ---------------------------------------------------------------
def key_space(client: Any, skip_own: bool = True) -> dict[bytes, tuple[str, Any, int]]:
    """Every key -> (type, value, absolute expiry in ms or -1), read independently of dtsctl's code."""
    keys = [key for key in client.scan_iter(count=1000) if not (skip_own and key.startswith(b"dtsctl:"))]
    out = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        kinds = [kind.decode() for kind in _pipelined(client, [("type", key) for key in chunk])]
        calls = [(_READERS.get(kind, "type"), key) for key, kind in zip(chunk, kinds)]
        values = _pipelined(client, calls)
        expiries = _pipelined(client, [("pexpiretime", key) for key in chunk])
        for key, kind, value, expiry in zip(chunk, kinds, values, expiries):
            if kind == "none":  # expired or deleted while scanning
                continue
            if kind == "stream":
                value = (value, _groups(client, key))
            elif kind in ("hash", "set"):
                value = sorted(value.items()) if kind == "hash" else sorted(value)
            out[key] = (kind, value, expiry)
    return out


_READERS = {"string": "get", "list": "lrange", "hash": "hgetall", "set": "smembers", "zset": "zrange",
            "stream": "xrange"}


def _pipelined(client: Any, calls: list[tuple[str, bytes]]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for name, key in calls:
        if name in ("lrange", "zrange"):
            getattr(pipe, name)(key, 0, -1, **({"withscores": True} if name == "zrange" else {}))
        else:
            getattr(pipe, name)(key)
    return pipe.execute()


def _groups(client: Any, key: bytes) -> list[Any] | None:
    """The stream's consumer groups; None when the stream was deleted after the scan saw it."""
    groups = []
    try:
        found = client.xinfo_groups(key)
    except redis.ResponseError:
        return None
    for group in found:
        pending = client.xpending_range(key, group["name"], "-", "+", 1000)
        groups.append((group["name"], group["last-delivered-id"],
                       sorted((p["message_id"], p["consumer"]) for p in pending)))
    return sorted(groups)


def differences(source: Any, destination: Any, ttl_slack_ms: int = 1000) -> list[str]:
    """What differs: missing or extra keys, types, values, expiry times beyond the slack."""
    a, b = key_space(source), key_space(destination)
    problems = [f"missing {k!r}" for k in a.keys() - b.keys()] + [f"extra {k!r}" for k in b.keys() - a.keys()]
    for key in a.keys() & b.keys():
        (kind, value, ttl), (kind2, value2, ttl2) = a[key], b[key]
        if kind != kind2 or value != value2:
            problems.append(f"{key!r}: {kind} {value!r:.200} != {kind2} {value2!r:.200}")
        elif (ttl < 0) != (ttl2 < 0) or abs(ttl - ttl2) > ttl_slack_ms:
            problems.append(f"{key!r}: ttl {ttl} != {ttl2}")
    return sorted(problems)


def wait_equal(source: Any, destination: Any, timeout: float = 60.0) -> None:
    last: list[str] = []

    def same() -> bool:
        nonlocal last
        try:
            last = differences(source, destination)
        except redis.ResponseError as exc:  # a key went away between listing and reading it (a resync's clear)
            last = [str(exc)]
        return not last
    try:
        wait_for(same, timeout, "source and destination to converge")
    except AssertionError:
        raise AssertionError(f"{len(last)} differences, e.g. {last[:10]}") from None
