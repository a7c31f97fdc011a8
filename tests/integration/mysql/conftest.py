"""Helpers for MySQL integration tests: private MariaDB servers and the agent as a real subprocess."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest

from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables import fullcopy
from dtsctl.engine.tables.interfaces import Sink, Source, TableSchema
from dtsctl.engine.tables.selection import TablePlan
from tests.integration.agent_process import AgentProcess, wait_for
from tests.servers.mariadb import MariaDBServer


def endpoint(server: MariaDBServer, user: str = "root", password: str = "") -> dict[str, Any]:
    return {"engine": "mysql", "host": "127.0.0.1", "port": server.port, "user": user, "password": password,
            "path": None, "database": None, "cluster": False}


def selection(database: str, **fields: Any) -> dict[str, Any]:
    return {"database": database, "tables": None, "all": False, "rename": None, "table_rename": {}, "filter": {},
            "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": None, "collections": None,
            **fields}


def attributes(source: dict[str, Any], destination: dict[str, Any], objects: list[dict[str, Any]],
               **overrides: Any) -> dict[str, Any]:
    result = {
        "type": "synchronization", "source": "src", "destination": "dst",
        "source_endpoint": source, "destination_endpoint": destination,
        "phases": ["schema", "full", "incremental"], "objects": objects, "conflict_policy": "fail",
        "throttle": {"rps": 0, "mbps": 0}, "retry": {"connection_minutes": 720, "other_minutes": 10},
        "status": "running", "lifecycle": {"prevent_destroy": False}, "workspace": "/tmp",
    }
    result.update(overrides)
    return result


def table_rows(server: MariaDBServer, database: str, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    conn = server.root_connect(database=database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute(f"SELECT * FROM `{table}` ORDER BY {order}")
            return list(cursor.fetchall())
    finally:
        conn.close()


def table_definition(server: MariaDBServer, database: str, table: str) -> str:
    """SHOW CREATE TABLE without its first line (the name): columns, keys and options."""
    return server.query(f"SHOW CREATE TABLE `{database}`.`{table}`")[0][1].split("\n", 1)[1]


@dataclass
class Task(AgentProcess):
    root: Path
    attributes: dict[str, Any]
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def dir(self) -> Path:
        return self.root / "task"



def wait_equal(source: MariaDBServer, source_db: str, destination: MariaDBServer, dest_db: str, table: str,
               timeout: float = 30.0, dest_table: str | None = None, order: str = "id") -> None:
    def same() -> bool:
        try:
            return table_rows(source, source_db, table, order) == table_rows(destination, dest_db, dest_table or table,
                                                                             order)
        except pymysql.err.MySQLError:
            return False
    wait_for(same, timeout, f"{source_db}.{table} to converge")


class Writer(threading.Thread):
    """A concurrent application on `orders(id, amount, note)`: multi-statement transactions of
    inserts, updates and deletes until stopped."""

    def __init__(self, server: MariaDBServer, database: str, first_id: int) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.key = server, database, first_id
        self.first_id = first_id
        self.halt = threading.Event()
        self.transactions = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                try:
                    conn = self.server.root_connect(database=self.database, autocommit=False)
                except pymysql.err.MySQLError:
                    time.sleep(0.2)  # the server is restarting
                    continue
                try:
                    self._loop(conn)
                except pymysql.err.OperationalError:
                    time.sleep(0.2)
                finally:
                    conn.close()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def _loop(self, conn: pymysql.Connection) -> None:
        with conn.cursor() as cursor:
            # A restart can drop the connection after the server committed but before it
            # answered: that transaction did happen, so continue after it.
            if cursor.execute("SELECT 1 FROM orders WHERE id = %s", (self.key,)):
                self.key += 1
                self.transactions += 1
            while not self.halt.is_set():
                key = self.key
                cursor.execute("INSERT INTO orders (id, amount, note) VALUES (%s, %s, 'live')", (key, key / 4))
                cursor.execute("UPDATE orders SET amount = amount + 1, note = 'upd' WHERE id = %s",
                               (key - self.first_id + 1,))
                cursor.execute("DELETE FROM orders WHERE id = %s", (key - 7,))
                conn.commit()
                self.key += 1
                self.transactions += 1
                time.sleep(0.002)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        if self.error is not None:
            raise self.error


def create_orders(server: MariaDBServer, database: str, count: int, table: str = "orders") -> None:
    server.execute(f"CREATE TABLE `{database}`.`{table}` (id BIGINT NOT NULL PRIMARY KEY, "
                   "amount DECIMAL(12,2) NOT NULL DEFAULT 0, note VARCHAR(40) CHARACTER SET utf8mb4 "
                   "COLLATE utf8mb4_unicode_ci, KEY by_amount (amount)) ENGINE=InnoDB")
    conn = server.root_connect(database=database, autocommit=False)
    try:
        with conn.cursor() as cursor:
            for start in range(1, count + 1, 5000):
                cursor.executemany(f"INSERT INTO `{table}` VALUES (%s, %s, %s)",
                                   [(i, i * 1.25, f"note {i}") for i in range(start, min(start + 5000, count + 1))])
        conn.commit()
    finally:
        conn.close()


class Crash(Exception):
    """Stands for the agent dying at this point (kill -9): nothing after it runs."""


def start_orders_copy(pair: "Pair", source: Source, sink: Sink) -> tuple[Checkpoint, TablePlan, TableSchema]:
    """An agent run's start on table `orders`, driving the engine directly: the checkpoint as
    the destination holds it, the table's plan and schema, and the schema phase done."""
    stored = sink.load_checkpoint()
    cp = Checkpoint.from_json(stored) if stored else Checkpoint()
    plan = TablePlan(pair.source_db, "orders", pair.dest_db, "orders", None, frozenset())
    cp.tables.setdefault(plan.name, TableProgress(destination=f"{pair.dest_db}.orders"))
    schema = source.table_schema(pair.source_db, "orders")
    assert schema is not None
    fullcopy.create_tables(sink, [plan], {plan.name: schema}, cp, Progress(), copying=True)
    return cp, plan, schema


def copying_under_writes(pair: "Pair", rows: int) -> tuple[Task, Writer]:
    """A task (not applied yet) to copy `rows` rows of `orders` at 20,000 rows/s, and a started Writer."""
    create_orders(pair.source, pair.source_db, rows)
    task = pair.task(throttle={"rps": 20_000, "mbps": 0})
    writer = Writer(pair.source, pair.source_db, 1_000_000)
    writer.start()
    return task, writer


def streaming_under_writes(pair: "Pair") -> tuple[Task, Writer]:
    """A task on a 1,000-row `orders` in incremental, and a started Writer (stop it)."""
    create_orders(pair.source, pair.source_db, 1_000)
    task = pair.task()
    task.apply()
    task.wait_incremental()
    writer = Writer(pair.source, pair.source_db, 1_000_000)
    writer.start()
    return task, writer


@dataclass
class Pair:
    source: MariaDBServer
    destination: MariaDBServer
    source_db: str
    dest_db: str
    root: Path
    tasks: list[Task] = field(default_factory=list)

    def task(self, objects: list[dict[str, Any]] | None = None, **overrides: Any) -> Task:
        objects = objects if objects is not None else [selection(self.source_db, all=True, rename=self.dest_db)]
        task = Task(self.root / f"t{len(self.tasks)}", attributes(endpoint(self.source), endpoint(self.destination),
                                                                   objects, **overrides))
        task.root.mkdir(parents=True, exist_ok=True)
        self.tasks.append(task)
        return task


@pytest.fixture
def pair(mariadb_pair, fresh_database, tmp_path) -> Any:
    source, destination = mariadb_pair
    source_db = fresh_database(source)
    dest_db = f"{source_db}_copy"
    made = Pair(source, destination, source_db, dest_db, tmp_path)
    yield made
    for task in made.tasks:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()
    if destination.running:
        destination.drop_database(dest_db)
        # checkpoint rows of its tasks (and of "t", the task id of tests driving a sink directly), so
        # that a later test's last task drops `dtsctl_meta` as it would on a destination of its own
        if destination.scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dtsctl_meta' "
                              "AND TABLE_NAME = 'checkpoints'"):
            ids = ["t", *(task.task_id for task in made.tasks)]
            placeholders = ", ".join(["%s"] * len(ids))
            destination.execute(f"DELETE FROM dtsctl_meta.checkpoints WHERE task_id IN ({placeholders})", *ids)
