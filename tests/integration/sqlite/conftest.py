"""Helpers for integration tests: real SQLite files and the agent as a real subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent_process import AgentProcess, wait_for


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    return conn


def rows(path: Path, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    with connect(path) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()


@dataclass
class Task(AgentProcess):
    root: Path
    source: Path
    destination: Path
    attributes: dict[str, Any]
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def dir(self) -> Path:
        return self.root / "task"

    def wait_caught_up(self, table: str = "orders", timeout: float = 15.0, order: str = "id") -> None:
        """Until the destination table equals the source table (filter-free tasks)."""
        wait_for(lambda: _same(self.source, self.destination, table, order), timeout, f"{table} to converge")


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
