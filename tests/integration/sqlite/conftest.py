"""Helpers for integration tests: real SQLite files and the agent as a real subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
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


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    return conn


def rows(path: Path, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    with connect(path) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()


@dataclass
class Task:
    root: Path
    source: Path
    destination: Path
    attributes: dict[str, Any]
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def dir(self) -> Path:
        return self.root / "task"

    @property
    def log(self) -> Path:
        return self.dir / "agent.log"

    def write_config(self) -> None:
        write_json_atomic(self.dir / "config.json",
                          {"address": "task.t", "task_id": self.task_id, "attributes": self.attributes}, mode=0o600)

    def apply(self) -> None:
        """What `dtsctl apply` does for this task: prepare the source, write config, start the agent."""
        lifecycle.prepare(self.attributes, self.task_id)
        self.write_config()
        self.start()

    def start(self) -> subprocess.Popen:
        self.dir.mkdir(exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dtsctl.runtime.agent", str(self.dir)],
                                            stdout=log, stderr=log, start_new_session=True)
        return self.process

    def status(self) -> dict[str, Any]:
        return read_json(self.dir / "status.json", {}) or {}

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0,
                    what: str = "status") -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            if status and predicate(status):
                return status
            if self.process is not None and self.process.poll() is not None and not predicate(self.status()):
                raise AssertionError(f"agent exited {self.process.returncode} before {what}:\n{self.log.read_text()}")
            return None
        return wait_for(check, timeout, what)

    def wait_incremental(self) -> dict[str, Any]:
        return self.wait_status(lambda s: s.get("phase") == "incremental", what="incremental phase")

    def wait_caught_up(self, table: str = "orders", timeout: float = 15.0, order: str = "id") -> None:
        """Until the destination table equals the source table (filter-free tasks)."""
        wait_for(lambda: _same(self.source, self.destination, table, order), timeout, f"{table} to converge")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        os.kill(self.process.pid, sig)
        return self.process.wait(timeout=15)

    def stop(self) -> int:
        return self.kill(signal.SIGTERM)


def _same(source: Path, destination: Path, table: str, order: str) -> bool:
    try:
        return rows(source, table, order) == rows(destination, table, order)
    except sqlite3.OperationalError:
        return False


def attributes_for(source: Path, destination: Path, **overrides: Any) -> dict[str, Any]:
    objects = overrides.pop("objects", [{"database": "main", "all": True}])
    filled = [{"database": "main", "tables": None, "all": False, "rename": None, "table_rename": {}, "filter": {},
               "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": None, "collections": None,
               **selection} for selection in objects]
    attributes = {
        "type": "synchronization", "source": "src", "destination": "dst",
        "source_endpoint": {"engine": "sqlite", "path": str(source), "host": None, "port": None, "user": None,
                            "password": None, "database": None, "cluster": False},
        "destination_endpoint": {"engine": "sqlite", "path": str(destination), "host": None, "port": None,
                                 "user": None, "password": None, "database": None, "cluster": False},
        "phases": ["schema", "full", "incremental"], "objects": filled, "conflict_policy": "fail",
        "throttle": {"rps": 0, "mbps": 0}, "retry": {"connection_minutes": 720, "other_minutes": 10},
        "status": "running", "lifecycle": {"prevent_destroy": False}, "workspace": str(source.parent),
    }
    attributes.update(overrides)
    return attributes


def create_orders(path: Path, count: int, table: str = "orders") -> None:
    with connect(path) as conn:
        conn.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, amount REAL, note TEXT, data BLOB)')
        conn.execute("BEGIN")
        conn.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?)',
                         [(i, i * 1.1, f"note {i}", bytes([i % 256, 0])) for i in range(1, count + 1)])
        conn.execute("COMMIT")


@pytest.fixture
def make_task(tmp_path: Path) -> Any:
    tasks: list[Task] = []

    def make(count: int = 100, **overrides: Any) -> Task:
        source, destination = tmp_path / "source.db", tmp_path / "destination.db"
        if not source.exists():
            create_orders(source, count)
        task = Task(tmp_path, source, destination, attributes_for(source, destination, **overrides))
        task.dir.mkdir(exist_ok=True)
        tasks.append(task)
        return task

    yield make
    for task in tasks:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()
