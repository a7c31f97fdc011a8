"""The SQLite Sink: creates tables, upserts/deletes by key, and stores the checkpoint
in the same transaction as the data (`_dtsctl_checkpoint`, keyed by task id)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from dtsctl.connectors.sqlite import lookups
from dtsctl.connectors.sqlite.connection import SqliteFile, open_or_create, quote, transaction, try_enable_wal
from dtsctl.connectors.sqlite.schema import create_table_sql, read_schema
from dtsctl.connectors.sqlite.types import translate, values
from dtsctl.engine.tables.checksum import table_checksum
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.events import ConflictCounts, Row, RowChange, SchemaChange
from dtsctl.engine.tables.interfaces import Sink, TableSchema

CHECKPOINT_TABLE = "_dtsctl_checkpoint"


class SqliteSink(SqliteFile, Sink):
    role = "destination"

    def __init__(self, endpoint: dict[str, Any], task_id: str, origin: str | None = None) -> None:
        super().__init__(endpoint, task_id, origin)
        self.path = str(endpoint["path"])
        self._statements: dict[tuple[Any, ...], str] = {}

    def _open(self) -> sqlite3.Connection:
        conn = open_or_create(self.path, self.role)
        try_enable_wal(conn)
        return conn

    def check_connection(self) -> None:
        """Check without creating anything: the file is created by the first write."""
        if not self._file_exists():
            folder = Path(self.path).parent
            if not folder.is_dir():
                raise ConnectionFailure(
                    f"destination folder {folder} does not exist; create it or fix endpoint `path`"
                )
            return
        with self._errors():
            self.conn.execute("SELECT 1").fetchone()

    def _file_exists(self) -> bool:
        return Path(self.path).exists()

    def check_database(self, database: str) -> str | None:
        if database == "main":
            return None
        return f"a SQLite destination has only the database `main`, not `{database}`; remove `rename`"

    # -- checkpoint -----------------------------------------------------------------
    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self._file_exists():
            return None
        with self._errors():
            if not self._exists(CHECKPOINT_TABLE):
                return None
            row = self.conn.execute(
                f"SELECT data FROM {CHECKPOINT_TABLE} WHERE task_id = ?", (self.task_id,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        with self._errors(), transaction(self.conn):
            self._store(checkpoint)

    def delete_checkpoint(self) -> None:
        if not self._file_exists():
            return
        with self._errors():
            if self._exists(CHECKPOINT_TABLE):
                with transaction(self.conn):
                    self.conn.execute(f"DELETE FROM {CHECKPOINT_TABLE} WHERE task_id = ?", (self.task_id,))
                    if self.conn.execute(f"SELECT count(*) FROM {CHECKPOINT_TABLE}").fetchone()[0] == 0:
                        self.conn.execute(f"DROP TABLE {CHECKPOINT_TABLE}")  # the last task writing here

    def _store(self, checkpoint: dict[str, Any]) -> None:
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} "
            "(task_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL)"
        )
        self.conn.execute(
            f"INSERT INTO {CHECKPOINT_TABLE} (task_id, data, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(task_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (self.task_id, json.dumps(checkpoint), time.time()),
        )

    # -- tables ---------------------------------------------------------------------
    def table_exists(self, database: str, table: str) -> bool:
        if not self._file_exists():
            return False
        with self._errors():
            return self._exists(table)

    def row_count(self, database: str, table: str) -> int | None:
        if not self._file_exists():
            return None
        with self._errors():
            if not self._exists(table):
                return None
            return self.conn.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]

    def empty_table(self, database: str, table: str) -> None:
        if not self._file_exists():
            return
        with self._errors(), transaction(self.conn):
            if self._exists(table):
                self.conn.execute(f"DELETE FROM {quote(table)}")

    def create_table(self, schema: TableSchema, database: str, table: str, deferred: Sequence[str] = ()) -> None:
        with self._errors(), transaction(self.conn):
            for statement in create_table_sql(translate(schema, table), table):
                self.conn.execute(statement)

    def table_key(self, database: str, table: str) -> tuple[str, ...]:
        with self._errors():
            schema = read_schema(self.conn, database, table)
        return schema.key if schema is not None else ()

    def apply_ddl(self, change: SchemaChange, database: str, table: str, new_table: str | None,
                  replay: bool, checkpoint: dict[str, Any]) -> None:
        """A table created on a SQLite source after the task started (the only DDL a SQLite
        source reports); anything else is refused as by every sink without DDL."""
        if change.kind != "create" or change.dialect != "sqlite":
            return super().apply_ddl(change, database, table, new_table, replay, checkpoint)
        with self._errors(), transaction(self.conn):
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} {change.body}")
            self._store(checkpoint)

    def checksum(self, schema: TableSchema, database: str, table: str) -> tuple[int, str]:
        columns = ", ".join(quote(name) for name in sorted(schema.column_names))
        order = ", ".join(quote(name) for name in schema.key)
        with self._errors():
            return table_checksum(self.conn.execute(f"SELECT {columns} FROM {quote(table)} ORDER BY {order}"))

    def read_range(self, schema: TableSchema, database: str, table: str, after_key: Sequence[Any] | None,
                   upto_key: Sequence[Any] | None) -> list[Row]:
        with self._errors():
            return lookups.read_range(self.conn, table, schema.column_names, schema.key, after_key, upto_key)

    def read_keys(self, schema: TableSchema, database: str, table: str, keys: Sequence[Sequence[Any]]) -> list[Row]:
        with self._errors():
            return lookups.read_keys(self.conn, table, schema.column_names, schema.key, keys, None)

    def _exists(self, table: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone() is not None

    # -- data -----------------------------------------------------------------------
    def write_rows(self, schema: TableSchema, database: str, table: str, rows: Sequence[Row],
                   checkpoint: dict[str, Any], keep_existing: bool = False) -> None:
        with self._errors(), transaction(self.conn):
            if rows:
                columns = tuple(rows[0])
                write = self._insert_sql if keep_existing else self._upsert_sql
                self.conn.executemany(write(table, columns, schema.key), [values(row.values()) for row in rows])
            self._store(checkpoint)

    def apply(self, changes: Sequence[RowChange], keys: dict[tuple[str, str], tuple[str, ...]],
              checkpoint: Callable[[ConflictCounts], dict[str, Any]], conflicts: Conflicts) -> ConflictCounts:
        counts = ConflictCounts()
        with self._errors(), transaction(self.conn):
            for change in changes:
                key = keys[(change.database, change.table)]
                if not self._apply_one(change, key) and conflicts.row(change, counts):
                    assert change.row is not None
                    self._upsert(change.table, change.row, key)
            self._store(checkpoint(counts))
        return counts

    def _apply_one(self, change: RowChange, key: tuple[str, ...]) -> bool:
        """Apply one change; False when it met an unexpected row (a conflict, left for the policy)."""
        execute = self.conn.execute
        table, row = change.table, change.row
        if change.op == "delete":
            deleted = execute(*self._delete(table, change.key)).rowcount
            return change.replay or deleted > 0
        assert row is not None
        if change.replay:
            if change.op == "update" and _key(row, key) != change.key:
                execute(*self._delete(table, change.key))
            self._upsert(table, row, key)
            return True
        if change.op == "insert":
            if execute(self._insert_sql(table, tuple(row), key), values(row.values())).rowcount:
                return True
        elif _key(row, key) != change.key:  # an update of the key: the old row must exist
            if execute(*self._delete(table, change.key)).rowcount:
                self._upsert(table, row, key)
                return True
        elif execute(*self._update(table, row, change.key)).rowcount:
            return True
        return False

    def _upsert(self, table: str, row: Row, key: tuple[str, ...]) -> None:
        self.conn.execute(self._upsert_sql(table, tuple(row), key), values(row.values()))

    # -- statements (cached: the same few shapes repeat for every row) -----------------
    def _upsert_sql(self, table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
        cache_key = ("upsert", table, columns, key)
        sql = self._statements.get(cache_key)
        if sql is None:
            others = [name for name in columns if name not in key]
            action = (f"DO UPDATE SET {', '.join(f'{quote(n)} = excluded.{quote(n)}' for n in others)}"
                      if others else "DO NOTHING")
            sql = f"{self._insert_head(table, columns)} ON CONFLICT ({', '.join(map(quote, key))}) {action}"
            self._statements[cache_key] = sql
        return sql

    def _insert_sql(self, table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
        cache_key = ("insert", table, columns, key)
        sql = self._statements.get(cache_key)
        if sql is None:
            sql = f"{self._insert_head(table, columns)} ON CONFLICT ({', '.join(map(quote, key))}) DO NOTHING"
            self._statements[cache_key] = sql
        return sql

    @staticmethod
    def _insert_head(table: str, columns: tuple[str, ...]) -> str:
        return (f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
                f"VALUES ({', '.join('?' for _ in columns)})")

    @staticmethod
    def _delete(table: str, key: Row) -> tuple[str, tuple[Any, ...]]:
        where = " AND ".join(f"{quote(name)} = ?" for name in key)
        return f"DELETE FROM {quote(table)} WHERE {where}", values(key.values())

    @staticmethod
    def _update(table: str, row: Row, key: Row) -> tuple[str, tuple[Any, ...]]:
        assignments = ", ".join(f"{quote(name)} = ?" for name in row)
        where = " AND ".join(f"{quote(name)} = ?" for name in key)
        return f"UPDATE {quote(table)} SET {assignments} WHERE {where}", values((*row.values(), *key.values()))


def _key(row: Row, key: tuple[str, ...]) -> Row:
    return {name: row[name] for name in key}
