"""Helpers for Redis integration tests: private servers and the agent as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from dtsctl.engine import lifecycle
from dtsctl.jsonfile import read_json, write_json_atomic


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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
class Task:
    dir: Path
    attributes: dict[str, Any]
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.dir / "agent.log"

    def apply(self) -> None:
        """What `dtsctl apply` does: precheck, prepare, write config, start the agent."""
        failed = [c for c in lifecycle.precheck(self.attributes, self.task_id) if not c.ok and not c.warning]
        assert not failed, failed
        lifecycle.prepare(self.attributes, self.task_id)
        write_json_atomic(self.dir / "config.json",
                          {"address": "task.t", "task_id": self.task_id, "attributes": self.attributes}, mode=0o600)
        self.start()

    def start(self) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dtsctl.runtime.agent", str(self.dir)],
                                            stdout=log, stderr=log, start_new_session=True)
        return self.process

    def status(self) -> dict[str, Any]:
        return read_json(self.dir / "status.json", {}) or {}

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                    what: str = "status") -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            if status and predicate(status):
                return status
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"agent exited {self.process.returncode} before {what}:\n{self.log.read_text()}")
            return None
        return wait_for(check, timeout, what)

    def wait_incremental(self, timeout: float = 60.0) -> dict[str, Any]:
        return self.wait_status(lambda s: s.get("phase") == "incremental", timeout, "incremental phase")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        os.kill(self.process.pid, sig)
        return self.process.wait(timeout=30)

    def stop(self) -> int:
        return self.kill(signal.SIGTERM)

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


def _groups(client: Any, key: bytes) -> list[Any]:
    groups = []
    for group in client.xinfo_groups(key):
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
        last = differences(source, destination)
        return not last
    try:
        wait_for(same, timeout, "source and destination to converge")
    except AssertionError:
        raise AssertionError(f"{len(last)} differences, e.g. {last[:10]}") from None
