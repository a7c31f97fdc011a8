"""Table schemas from information_schema, and CREATE statements for a destination.

MySQL to MySQL keeps the source's own `SHOW CREATE TABLE` text with only the name
rewritten, so indexes, defaults, character sets, collations and AUTO_INCREMENT survive.
"""

from __future__ import annotations

import re
from typing import Sequence

import pymysql

from dtsctl.connectors.mysql.connection import qualified, query, quote
from dtsctl.engine.tables.interfaces import Column, Index, TableSchema

DIALECT = "mysql"
META_DATABASE = "dtsctl_meta"  # dtsctl's own bookkeeping on a MySQL destination
CHECKPOINT_TABLE = "checkpoints"  # one row per task writing to this server: its applier checkpoint
# The origin tag of a two-way direction, written with every checkpoint: the checkpoint row is
# part of every transaction the applier commits, so it tags the whole transaction.
ORIGIN_COLUMN = "origin"
# The fencing token (cluster runtime: the owner's ownership revision) of the agent that wrote the
# checkpoint; a write carrying an older token is refused in the same transaction.
FENCING_COLUMN = "fencing_token"
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys", META_DATABASE})


def list_tables(conn: pymysql.Connection, database: str) -> list[str]:
    rows = query(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                       "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", (database,))
    return [] if database in SYSTEM_DATABASES else [name for (name,) in rows]


def read_schema(conn: pymysql.Connection, database: str, table: str) -> TableSchema | None:
    """The table's columns, key and indexes, or None when it does not exist. The key is the
    primary key, else the first unique index over NOT NULL columns, else empty."""
    columns = tuple(
        Column(name=name, type=column_type, not_null=nullable == "NO", default=default)
        for name, column_type, nullable, default in query(
            conn,
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (database, table),
        )
    )
    if not columns:
        return None
    indexes = _indexes(conn, database, table)
    not_null = {column.name for column in columns if column.not_null}
    primary = next((index.columns for index in indexes if index.name == "PRIMARY"), ())
    key = primary or next(
        (index.columns for index in indexes if index.unique and set(index.columns) <= not_null), ()
    )
    return TableSchema(
        database=database, name=table, columns=columns, key=key,
        indexes=tuple(index for index in indexes if index.name != "PRIMARY"),
        dialect=DIALECT, definition=show_create_table(conn, database, table),
        database_options=database_options(conn, database),
    )


def _indexes(conn: pymysql.Connection, database: str, table: str) -> list[Index]:
    grouped: dict[str, tuple[bool, list[str]]] = {}
    for name, non_unique, column, sub_part in query(
        conn,
        "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        (database, table),
    ):
        unique, names = grouped.get(name, (not non_unique, []))
        grouped[name] = (unique and sub_part is None, [*names, column])  # a prefix index is no key
    return [Index(name=name, columns=tuple(names), unique=unique) for name, (unique, names) in grouped.items()]


def show_create_table(conn: pymysql.Connection, database: str, table: str) -> str:
    return query(conn, f"SHOW CREATE TABLE {qualified(database, table)}")[0][1]


def database_options(conn: pymysql.Connection, database: str) -> str:
    rows = query(conn, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                       "WHERE SCHEMA_NAME = %s", (database,))
    return f"CHARACTER SET {rows[0][0]} COLLATE {rows[0][1]}" if rows else ""


_CREATE_HEAD = re.compile(r"^\s*CREATE\s+TABLE\s+`(?:[^`]|``)+`", re.IGNORECASE)


def create_table_statement(schema: TableSchema, database: str, table: str) -> str:
    """The source's CREATE TABLE under the destination name, IF NOT EXISTS."""
    if not _CREATE_HEAD.match(schema.definition):
        raise ValueError(f"unexpected SHOW CREATE TABLE output for {schema.database}.{schema.name}")
    return _CREATE_HEAD.sub(lambda _: f"CREATE TABLE IF NOT EXISTS {qualified(database, table)}",
                            schema.definition, count=1)


_PLAIN_KEY = re.compile(r"^KEY `((?:[^`]|``)+)` \(")


def deferrable_keys(definition: str) -> list[str]:
    """The plain (non-unique, B-tree) secondary keys of a SHOW CREATE TABLE text, as its lines
    spell them ("KEY `name` (...)"): a copy loads faster without them and builds them sorted
    after. None of a table with foreign keys (they need their indexes) or of an unexpected text."""
    items = _definition_items(definition)
    if items is None or any(item.startswith(("CONSTRAINT", "FOREIGN KEY")) for item in items):
        return []
    return [item for item in items if _PLAIN_KEY.match(item)]


def key_name(key: str) -> str:
    """The index name of a key line of `deferrable_keys`."""
    match = _PLAIN_KEY.match(key)
    assert match is not None, key
    return match.group(1).replace("``", "`")


def without_keys(definition: str, keys: Sequence[str]) -> str:
    """The SHOW CREATE TABLE text without the given key lines."""
    if not keys:
        return definition
    lines = definition.split("\n")
    items = _definition_items(definition)
    assert items is not None, "deferrable_keys accepted this definition"
    kept = [item for item in items if item not in keys]
    return "\n".join([lines[0], ",\n".join(f"  {item}" for item in kept), lines[-1]])


def _definition_items(definition: str) -> list[str] | None:
    """The column and key lines between "CREATE TABLE `t` (" and ") ENGINE=...", without
    indentation and trailing commas; None when the text is not laid out so."""
    lines = definition.split("\n")
    if len(lines) < 3 or not lines[0].endswith("(") or not lines[-1].startswith(")"):
        return None
    body = lines[1:-1]
    if not all(line.startswith("  ") for line in body):
        return None
    return [line.strip().removesuffix(",") for line in body]


def create_table_from_columns(schema: TableSchema, database: str, table: str) -> str:
    """A CREATE TABLE from another engine's column list (types kept as declared)."""
    definitions = [
        " ".join(part for part in (quote(column.name), column.type or "LONGTEXT",
                                   "NOT NULL" if column.not_null else "") if part)
        for column in schema.columns
    ]
    if schema.key:
        definitions.append(f"PRIMARY KEY ({', '.join(map(quote, schema.key))})")
    for index in schema.indexes:
        if index.columns != schema.key:
            unique = "UNIQUE " if index.unique else ""
            definitions.append(f"{unique}KEY {quote(index.name)} ({', '.join(map(quote, index.columns))})")
    return f"CREATE TABLE IF NOT EXISTS {qualified(database, table)} ({', '.join(definitions)})"
