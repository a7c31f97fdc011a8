"""The SQLite Source: schema, chunked snapshot by key, and the trigger-fed change stream."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from dtsctl.connectors.sqlite import capture, freeze, lookups
from dtsctl.connectors.sqlite.connection import SqliteFile, open_existing, quote, transaction, try_enable_wal
from dtsctl.connectors.sqlite.schema import columns_sql, list_user_tables, read_schema
from dtsctl.engine.tables.checksum import table_checksum
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import ChangeEvent, Position, Row, SchemaChange, Transaction, decode_row
from dtsctl.engine.tables.interfaces import Source, TableSchema

DATABASE = "main"


class SqliteSource(SqliteFile, Source):
    role = "source"
    reads_ahead = False  # reads run in-process: a reader thread only contends for the GIL

    def __init__(self, endpoint: dict[str, Any], task_id: str) -> None:
        super().__init__(endpoint, task_id)
        self.path = str(endpoint["path"])
        self._capture = capture.capture_table(task_id)
        self._wanted: Callable[[str, str], bool] | None = None  # set for the stream: adopt new tables
        self._schema_version: int | None = None

    def _open(self) -> sqlite3.Connection:
        return open_existing(self.path, self.role)

    # -- connectivity and schema ----------------------------------------------------
    def check_connection(self) -> None:
        with self._errors():
            self.conn.execute("SELECT 1").fetchone()

    def list_tables(self, database: str) -> list[str]:
        with self._errors():
            return list_user_tables(self.conn) if database == DATABASE else []

    def table_schema(self, database: str, table: str) -> TableSchema | None:
        if database != DATABASE:
            return None
        with self._errors():
            return read_schema(self.conn, database, table)

    def check_filter(self, database: str, table: str, expression: str) -> str | None:
        try:
            with self._errors():
                self.conn.execute(f"SELECT 1 FROM {quote(table)} WHERE ({expression}) LIMIT 0").fetchall()
        except (sqlite3.Error, ValueError) as exc:
            return str(exc)
        return None

    # -- snapshot -------------------------------------------------------------------
    def estimate_rows(self, database: str, table: str) -> int:
        with self._errors():
            return self.conn.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]

    def read_chunk(self, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                   where: str | None) -> list[Row]:
        names = schema.column_names
        conditions = [f"({where})"] if where else []
        params: list[Any] = []
        if after_key is not None:
            key = ", ".join(quote(name) for name in schema.key)
            conditions.append(f"({key}) > ({', '.join('?' for _ in schema.key)})")
            params.extend(after_key)
        sql = (f"SELECT {', '.join(quote(name) for name in names)} FROM {quote(schema.name)}"
               f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''}"
               f" ORDER BY {', '.join(quote(name) for name in schema.key)} LIMIT ?")
        with self._errors():
            rows = self.conn.execute(sql, (*params, limit)).fetchall()
        return [dict(zip(names, row)) for row in rows]

    def checksum(self, schema: TableSchema, where: str | None) -> tuple[int, str]:
        columns = ", ".join(quote(name) for name in sorted(schema.column_names))
        order = ", ".join(quote(name) for name in schema.key)
        sql = (f"SELECT {columns} FROM {quote(schema.name)}{f' WHERE ({where})' if where else ''}"
               f" ORDER BY {order}")
        with self._errors():
            return table_checksum(self.conn.execute(sql))

    def read_keys(self, schema: TableSchema, keys: Sequence[Sequence[Any]], where: str | None) -> list[Row]:
        with self._errors():
            return lookups.read_keys(self.conn, schema.name, schema.column_names, schema.key, keys, where)

    def read_keys_consistently(self, schema: TableSchema, keys: Sequence[Sequence[Any]],
                               where: str | None) -> tuple[Position, list[Row]]:
        """In one read transaction: the capture id then reached, and the rows."""
        with self._errors(), transaction(self.conn, immediate=False):
            return self.current_position(), self.read_keys(schema, keys, where)

    def freeze_writes(self, drain_seconds: float) -> None:
        with self._errors():
            freeze.freeze(self.conn, self.task_id, self.path, drain_seconds)

    def unfreeze_writes(self) -> None:
        with self._errors():
            freeze.unfreeze(self.conn, self.task_id)

    # -- change stream --------------------------------------------------------------
    def current_position(self) -> Position:
        with self._errors():
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = ?", (self._capture,)
            ).fetchone() if self._has_sequence() else None
        return 0 if row is None else int(row[0])

    def _has_sequence(self) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        ).fetchone() is not None

    def position_order(self, position: Position) -> tuple[Any, ...]:
        return (int(position),)

    def describe_position(self, position: Position) -> str:
        return f"{Path(self.path).name} capture id {position}"

    def restrict(self, wanted: Callable[[str, str], bool], databases: frozenset[str]) -> None:
        self._wanted = wanted

    def read_changes(self, position: Position, max_events: int, wait_seconds: float) -> list[Transaction]:
        self._adopt_new_tables()
        rows = self._fetch(position, max_events)
        if not rows and wait_seconds > 0:
            time.sleep(wait_seconds)
            self._adopt_new_tables()
            rows = self._fetch(position, max_events)
        # One poll is one change-log transaction, except that a created table's record goes
        # alone: it holds whole source transactions unless `max_events` cut one, and a cut only
        # makes the destination see it in two commits.
        transactions: list[Transaction] = []
        events: list[ChangeEvent] = []
        for event in (_event(*row) for row in rows):
            if event.op == "ddl" and events:
                transactions.append(_transaction(events))
                events = []
            events.append(event)
            if event.op == "ddl":
                transactions.append(_transaction(events))
                events = []
        if events:
            transactions.append(_transaction(events))
        return transactions

    def _adopt_new_tables(self) -> None:
        """Capture the wanted tables created since the last look (`all: true` follows them)."""
        if self._wanted is None:
            return
        with self._errors():
            version = self.conn.execute("PRAGMA schema_version").fetchone()[0]
            if version == self._schema_version:
                return
            captured = capture.captured_tables(self.conn, self.task_id)
            for table in list_user_tables(self.conn):
                if table not in captured and self._wanted(DATABASE, table):
                    schema = read_schema(self.conn, DATABASE, table)
                    if schema is not None:
                        capture.adopt(self.conn, self.task_id, schema, columns_sql(schema))
            self._schema_version = self.conn.execute("PRAGMA schema_version").fetchone()[0]

    def _fetch(self, position: Position, limit: int) -> list[tuple[Any, ...]]:
        with self._errors():
            try:
                return self.conn.execute(
                    f"SELECT id, tbl, op, old, new, ts FROM {quote(self._capture)} WHERE id > ? ORDER BY id LIMIT ?",
                    (int(position), limit),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    raise FatalError(
                        f"capture table {self._capture} is missing in {self.path}; run `dtsctl apply` to "
                        "reinstall change capture"
                    ) from exc
                raise

    def release(self, position: Position) -> None:
        with self._errors(), transaction(self.conn):
            self.conn.execute(f"DELETE FROM {quote(self._capture)} WHERE id <= ?", (int(position),))

    def install_capture(self, tables: Sequence[TableSchema]) -> None:
        with self._errors():
            try_enable_wal(self.conn)
            capture.install(self.conn, self.task_id, tables)

    def remove_capture(self) -> None:
        with self._errors():
            capture.remove(self.conn, self.task_id)


def _event(change_id: int, table: str, op: str, old: str | None, new: str | None, ts: float) -> ChangeEvent:
    if op == "create":
        created = json.loads(new or "{}")
        change = SchemaChange("create", body=created["columns"], key=tuple(created["key"]), dialect="sqlite")
        return ChangeEvent(database=DATABASE, table=table, op="ddl", before=None, after=None, commit_time=ts,
                           position=change_id, ddl=change)
    return ChangeEvent(database=DATABASE, table=table, op=op,  # type: ignore[arg-type]
                       before=decode_row(json.loads(old)) if old is not None else None,
                       after=decode_row(json.loads(new)) if new is not None else None,
                       commit_time=ts, position=change_id)


def _transaction(events: list[ChangeEvent]) -> Transaction:
    return Transaction(events=tuple(events), position=events[-1].position,
                       commit_time=max(event.commit_time for event in events))
