"""Subscription tasks with a real agent process, read through the SDK.

The source is behind `SourceDriver` so the same tests can run against another
engine: a driver gives its endpoint, its object selection, and runs SQL.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import pytest

from dtsctl.runtime import lifecycle
from dtsctl.engine.subscription.spec import store_path
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.engine.subscription.status import describe
from tests.integration.agent_process import wait_for as shared_wait_for


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """As the shared wait_for, with a longer default for whole-second binlog and lease timings."""
    return shared_wait_for(predicate, timeout, what)


class SourceDriver(Protocol):
    endpoint: dict[str, Any]
    objects: list[dict[str, Any]]
    object_name: str  # how records name the table ("main.orders")

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None: ...


@dataclass
class SqliteDriver:
    path: Path
    object_name: str = "main.orders"

    @property
    def endpoint(self) -> dict[str, Any]:
        return {"engine": "sqlite", "path": str(self.path), "host": None, "port": None, "user": None,
                "password": None, "database": None, "cluster": False}

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [{"database": "main", "tables": ["orders"], "all": False, "rename": None, "table_rename": {},
                 "filter": {}, "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": None,
                 "collections": None}]

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in statements:
                conn.execute(statement, params if len(statements) == 1 else ())
            conn.execute("COMMIT")
        finally:
            conn.close()


@dataclass
class SubscriptionTask:
    root: Path
    source: SourceDriver
    groups: dict[str, dict[str, str]]
    retention: dict[str, float] = field(default_factory=lambda: {"hours": 24.0, "megabytes": 0.0})
    deliver_to: dict[str, Any] | None = None
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def dir(self) -> Path:
        return self.root / "task.cdc"

    @property
    def store(self) -> Path:
        return store_path(self.dir)

    def attributes(self) -> dict[str, Any]:
        return {
            "type": "subscription", "source": "src", "destination": None,
            "source_endpoint": self.source.endpoint, "destination_endpoint": None,
            "phases": ["schema", "full", "incremental"], "objects": self.source.objects, "conflict_policy": "fail",
            "throttle": {"rps": 0, "mbps": 0}, "retry": {"connection_minutes": 720, "other_minutes": 10},
            "status": "running", "lifecycle": {"prevent_destroy": False}, "workspace": str(self.root),
            "topology": None, "retention": self.retention, "consumer_groups": self.groups,
            "deliver_to": None if self.deliver_to is None else {"endpoint": "cache", "stream": self.deliver_to["stream"]},
            "delivery_endpoint": None if self.deliver_to is None else self.deliver_to["endpoint"],
        }

    def apply(self) -> None:
        """What `dtsctl apply` does: prepare the source, write the config, sync the groups, start."""
        attributes = self.attributes()
        lifecycle.prepare(attributes, self.task_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / "config.json",
                          {"address": "task.cdc", "task_id": self.task_id, "attributes": attributes}, mode=0o600)
        lifecycle.sync_groups(self.dir, attributes)
        self.start()
        self.wait_status(lambda s: s.get("phase") == "incremental", "the stream to start")

    def start(self) -> None:
        with open(self.dir / "agent.log", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dtsctl.runtime.agent_process", str(self.dir)],
                                            stdout=log, stderr=log, start_new_session=True)

    def status(self) -> dict[str, Any]:
        return read_json(self.dir / "status.json", {}) or {}

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            if status and predicate(status):
                return status
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"agent exited {self.process.returncode} before {what}:\n"
                                     f"{(self.dir / 'agent.log').read_text()}")
            return None
        return wait_for(check, 20, what)

    def wait_recorded(self, events: int) -> None:
        self.wait_status(lambda s: s.get("events_applied", 0) >= events, f"{events} events recorded")

    def describe(self) -> dict[str, Any]:
        return describe(self.store)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


@pytest.fixture
def sqlite_source(tmp_path: Path) -> SqliteDriver:
    driver = SqliteDriver(tmp_path / "source.db")
    driver.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, note TEXT, data BLOB)")
    return driver


@pytest.fixture
def make_task(tmp_path: Path, sqlite_source: SqliteDriver) -> Any:
    tasks: list[SubscriptionTask] = []

    def make(groups: dict[str, dict[str, str]] | list[str] = ("g",), **options: Any) -> SubscriptionTask:
        declared = groups if isinstance(groups, dict) else {name: {"start": "latest"} for name in groups}
        task = SubscriptionTask(tmp_path, sqlite_source, declared, **options)
        tasks.append(task)
        return task

    yield make
    for task in tasks:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()
