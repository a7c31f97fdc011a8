"""Reading table schemas from a SQLite file and creating them on another."""

from __future__ import annotations

import dataclasses
import sqlite3

from dtsctl.connectors.sqlite.connection import quote
from dtsctl.engine.interfaces import Column, Index, TableSchema

OWN_PREFIX = "_dtsctl_"


def list_user_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables the user owns: not sqlite_* internals and not dtsctl's bookkeeping."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name"
    ).fetchall()
    return [name for (name,) in rows if not name.startswith(OWN_PREFIX)]


def read_schema(conn: sqlite3.Connection, database: str, table: str) -> TableSchema | None:
    """The schema of `table`, or None when it does not exist. Its key: the primary key, else a
    unique index over NOT NULL columns, else empty."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is None:
        return None
    info = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    columns = tuple(Column(name=row[1], type=row[2] or "", not_null=bool(row[3]) or row[5] > 0,
                           default=row[4]) for row in info)
    primary = tuple(row[1] for row in sorted((r for r in info if r[5] > 0), key=lambda r: r[5]))
    indexes = _indexes(conn, table)
    key = primary
    if not key:
        not_null = {column.name for column in columns if column.not_null}
        key = next((index.columns for index in indexes if index.unique and set(index.columns) <= not_null), ())
    return TableSchema(database=database, name=table, columns=columns, key=key, indexes=indexes)


def _indexes(conn: sqlite3.Connection, table: str) -> tuple[Index, ...]:
    result = []
    for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({quote(table)})").fetchall():
        if origin == "pk" or partial:
            continue  # the primary key is recreated with the table; partial indexes have no plain form
        info = conn.execute(f"PRAGMA index_xinfo({quote(name)})").fetchall()
        key_columns = [row for row in info if row[5]]  # row[5]: key column, not an auxiliary one
        if any(row[1] < 0 for row in key_columns):
            continue  # an index on an expression: not replicated
        result.append(Index(name=name, columns=tuple(row[2] for row in key_columns), unique=bool(unique)))
    return tuple(result)


def columns_sql(schema: TableSchema) -> str:
    """The parenthesised column and key definitions of `schema`'s CREATE TABLE, under any name."""
    return create_table_sql(dataclasses.replace(schema, indexes=()), "t")[0].removeprefix(
        f"CREATE TABLE IF NOT EXISTS {quote('t')} ")


def create_table_sql(schema: TableSchema, table: str) -> list[str]:
    """CREATE TABLE / CREATE INDEX statements for `schema` under the name `table`."""
    definitions = []
    for column in schema.columns:
        parts = [quote(column.name)]
        if column.type:
            parts.append(column.type)
        if column.not_null:
            parts.append("NOT NULL")
        if column.default is not None:
            parts.append(f"DEFAULT {column.default}")
        definitions.append(" ".join(parts))
    if schema.key:
        definitions.append(f"PRIMARY KEY ({', '.join(quote(name) for name in schema.key)})")
    statements = [f"CREATE TABLE IF NOT EXISTS {quote(table)} ({', '.join(definitions)})"]
    for index in schema.indexes:
        if index.columns == schema.key:
            continue
        name = index.name if table == schema.name else f"{table}_{index.name}"
        if name.startswith("sqlite_"):  # an automatic index of a UNIQUE constraint: reserved name
            name = f"{table}_{'_'.join(index.columns)}_key"
        unique = "UNIQUE " if index.unique else ""
        columns = ", ".join(quote(name) for name in index.columns)
        statements.append(f"CREATE {unique}INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({columns})")
    return statements
