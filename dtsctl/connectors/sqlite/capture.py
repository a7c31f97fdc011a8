"""Change capture by triggers: per task, a capture table and three triggers per selected table.

Triggers write full before/after row images as JSON, with BLOBs as {"$x": hex}
and REALs as {"$f": "%!.17g"} (SQLite's JSON would round them), and the time of
the change. Capture ids are assigned in commit order (SQLite has one writer at
a time), so the id is the stream position.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from typing import Sequence

from dtsctl.connectors.sqlite.connection import quote, transaction
from dtsctl.engine.tables.interfaces import TableSchema

_NOW = "(julianday('now') - 2440587.5) * 86400.0"


def short_id(task_id: str) -> str:
    """A short, identifier-safe form of the task id used in object names."""
    compact = re.sub(r"[^a-z0-9]", "", task_id.lower())[:8]
    return compact if len(compact) >= 6 else hashlib.sha256(task_id.encode()).hexdigest()[:8]


def capture_table(task_id: str) -> str:
    return f"_dtsctl_capture_{short_id(task_id)}"


def trigger_prefix(task_id: str) -> str:
    return f"_dtsctl_{short_id(task_id)}_"


def freeze_prefix(task_id: str) -> str:
    """Names of a cutover's refusing triggers (dtsctl.connectors.sqlite.freeze); the hyphen keeps
    them apart from the capture triggers of any task."""
    return f"_dtsctl-freeze_{short_id(task_id)}_"


def install(conn: sqlite3.Connection, task_id: str, tables: Sequence[TableSchema]) -> None:
    """Make exactly `tables` captured, in one transaction (no window without a trigger)."""
    capture = quote(capture_table(task_id))
    with transaction(conn):
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {capture} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tbl TEXT NOT NULL, op TEXT NOT NULL, old TEXT, new TEXT, ts REAL NOT NULL)"
        )
        for name in installed_triggers(conn, task_id):
            conn.execute(f"DROP TRIGGER IF EXISTS {quote(name)}")
        for schema in tables:
            for statement in _trigger_sql(task_id, schema):
                conn.execute(statement)


def adopt(conn: sqlite3.Connection, task_id: str, schema: TableSchema, columns: str) -> None:
    """Capture a table created after the task started: in one transaction, its triggers, a
    `create` record (its `columns_sql` and key) and an `insert` record per row it already holds,
    so rows written before the triggers existed are not lost."""
    capture = quote(capture_table(task_id))
    literal = "'" + schema.name.replace("'", "''") + "'"
    with transaction(conn):
        if schema.name in captured_tables(conn, task_id):
            return
        for statement in _trigger_sql(task_id, schema):
            conn.execute(statement)
        conn.execute(f"INSERT INTO {capture} (tbl, op, old, new, ts) VALUES (?, 'create', NULL, ?, {_NOW})",
                     (schema.name, json.dumps({"columns": columns, "key": list(schema.key)})))
        order = ", ".join(quote(name) for name in schema.key) or "rowid"
        conn.execute(f"INSERT INTO {capture} (tbl, op, old, new, ts) SELECT {literal}, 'insert', NULL, "
                     f"{_image(schema, 'T')}, {_NOW} FROM {quote(schema.name)} AS T ORDER BY {order}")


def remove(conn: sqlite3.Connection, task_id: str) -> None:
    with transaction(conn):
        for name in installed_triggers(conn, task_id):
            conn.execute(f"DROP TRIGGER IF EXISTS {quote(name)}")
        drop_freeze_triggers(conn, task_id)  # left by a cutover that died frozen
        conn.execute(f"DROP TABLE IF EXISTS {quote(capture_table(task_id))}")


def drop_freeze_triggers(conn: sqlite3.Connection, task_id: str) -> None:
    for name in _triggers_named(conn, freeze_prefix(task_id)):
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(name)}")


def installed_triggers(conn: sqlite3.Connection, task_id: str) -> list[str]:
    return _triggers_named(conn, trigger_prefix(task_id))


def _triggers_named(conn: sqlite3.Connection, prefix: str) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall()
    return [name for (name,) in rows]


def captured_tables(conn: sqlite3.Connection, task_id: str) -> set[str]:
    prefix = trigger_prefix(task_id)
    rows = conn.execute(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
        (len(prefix), prefix),
    ).fetchall()
    return {name for (name,) in rows}


def _image(schema: TableSchema, alias: str) -> str:
    pairs = []
    for name in schema.column_names:
        ref = f"{alias}.{quote(name)}"
        value = (f"CASE typeof({ref}) WHEN 'blob' THEN json_object('$x', hex({ref})) "
                 f"WHEN 'real' THEN json_object('$f', printf('%!.17g', {ref})) ELSE {ref} END")
        pairs.append(f"'{name.replace(chr(39), chr(39) * 2)}', {value}")
    return f"json_object({', '.join(pairs)})"


def _trigger_sql(task_id: str, schema: TableSchema) -> list[str]:
    capture = quote(capture_table(task_id))
    table = quote(schema.name)
    literal = "'" + schema.name.replace("'", "''") + "'"
    insert = f"INSERT INTO {capture} (tbl, op, old, new, ts) VALUES ({literal}, "
    prefix = trigger_prefix(task_id) + schema.name
    return [
        f"CREATE TRIGGER {quote(prefix + '_ins')} AFTER INSERT ON {table} BEGIN "
        f"{insert}'insert', NULL, {_image(schema, 'NEW')}, {_NOW}); END",
        f"CREATE TRIGGER {quote(prefix + '_upd')} AFTER UPDATE ON {table} BEGIN "
        f"{insert}'update', {_image(schema, 'OLD')}, {_image(schema, 'NEW')}, {_NOW}); END",
        f"CREATE TRIGGER {quote(prefix + '_del')} AFTER DELETE ON {table} BEGIN "
        f"{insert}'delete', {_image(schema, 'OLD')}, NULL, {_NOW}); END",
    ]
