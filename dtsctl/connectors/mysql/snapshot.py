"""Consistent reads of the source: a snapshot transaction and the binlog position it matches.

`START TRANSACTION WITH CONSISTENT SNAPSHOT` on MariaDB also fixes the status values
`binlog_snapshot_file` / `binlog_snapshot_position`: the binlog point the read view
matches exactly. `BINLOG_GTID_POS` turns it into the GTID state a stream resumes from,
so the stream starts where the snapshot ends.
"""

from __future__ import annotations

from typing import Any, Sequence

import pymysql

from dtsctl.connectors.mysql import position as positions
from dtsctl.connectors.mysql.connection import qualified, query, quote, scalar
from dtsctl.connectors.mysql.values import bit_columns, normalise_selected
from dtsctl.engine.events import Row
from dtsctl.engine.tables.interfaces import Column, TableSchema


def open_snapshot(conn: pymysql.Connection) -> positions.Position:
    """Start a consistent-snapshot transaction on `conn`; the binlog position it matches."""
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cursor.execute("SHOW STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
        status = {name.lower(): value for name, value in cursor.fetchall()}
    file, offset = status.get("binlog_snapshot_file") or "", int(status.get("binlog_snapshot_position") or 0)
    gtid = scalar(conn, "SELECT BINLOG_GTID_POS(%s, %s)", (file, offset)) if file else ""
    return positions.make(gtid or "", file, offset)


def current_position(conn: pymysql.Connection) -> positions.Position:
    """The binlog end now, with the GTID state that matches it exactly."""
    rows = query(conn, "SHOW MASTER STATUS")
    if not rows:
        return positions.make(scalar(conn, "SELECT @@GLOBAL.gtid_binlog_pos") or "", "", 0)
    file, offset = rows[0][0], int(rows[0][1])
    return positions.make(scalar(conn, "SELECT BINLOG_GTID_POS(%s, %s)", (file, offset)) or "", file, offset)


def read_chunk(conn: pymysql.Connection, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
               where: str | None) -> list[Row]:
    """Up to `limit` rows after `after_key` in key order."""
    return _decoded(schema, query(conn, *_chunk_query(schema, list(map(quote, schema.column_names)), after_key,
                                                      limit, where)))


def read_literal_chunk(conn: pymysql.Connection, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                       where: str | None) -> tuple[list[str], tuple[Any, ...]] | None:
    """Up to `limit` rows after `after_key` in key order as SQL row literals, "(v1,v2,...)",
    built by the server, with the last row's key; None when a column's type has no literal
    form here or a row's literal is longer than the server builds (then read decoded rows)."""
    literals = [row_literal(column) for column in schema.columns]
    if any(literal is None for literal in literals):
        return None
    row = "CONCAT('(', " + ", ',', ".join(literal for literal in literals if literal) + ", ')')"
    rows = query(conn, *_chunk_query(schema, [row, *map(quote, schema.key)], after_key, limit, where))
    if any(selected[0] is None for selected in rows):  # longer than max_allowed_packet: CONCAT gave NULL
        return None
    types = {column.name: column.type for column in schema.columns}
    last = tuple(normalise_selected(rows[-1][1:], bit_columns([types[name] for name in schema.key]))) if rows else ()
    return [selected[0] for selected in rows], last


_TEXT_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "float", "double",
               "date", "datetime", "timestamp", "time", "year", "char", "varchar", "tinytext", "text",
               "mediumtext", "longtext", "enum", "set", "json"}
_BYTE_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


def row_literal(column: Column) -> str | None:
    """A SQL expression giving the column's value as a literal the destination parses back to
    the same value: QUOTE() for text forms (NULL becomes the word NULL), X'..' for bytes,
    a number for BIT; all in utf8mb4 so columns of different collations concatenate.
    None for other types (spatial ones), which are copied decoded."""
    base = column.type.lower().split("(")[0].split()[0]
    name = quote(column.name)
    if base in _TEXT_TYPES:
        expression = f"QUOTE({name})"
    elif base in _BYTE_TYPES:
        expression = f"IF({name} IS NULL, 'NULL', CONCAT('X''', HEX({name}), ''''))"
    elif base == "bit":
        expression = f"IFNULL(CAST({name} AS UNSIGNED), 'NULL')"
    else:
        return None
    return f"CONVERT({expression} USING utf8mb4)"


def _chunk_query(schema: TableSchema, selected: Sequence[str], after_key: Sequence[Any] | None, limit: int,
                 where: str | None) -> tuple[str, list[Any]]:
    """The SELECT of a chunk. The key comparison is spelled out as (a > x) OR (a = x AND b > y)
    ... so every MariaDB version uses the key's index range."""
    conditions = [f"({where})"] if where else []
    params: list[Any] = []
    if after_key is not None:
        conditions.append(_after(schema.key))
        params.extend(_after_params(after_key))
    sql = (f"SELECT {', '.join(selected)} FROM {qualified(schema.database, schema.name)}"
           f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''}"
           f" ORDER BY {', '.join(map(quote, schema.key))} LIMIT {int(limit)}")
    return sql, params


def read_range(conn: pymysql.Connection, schema: TableSchema, after_key: Sequence[Any] | None,
               upto_key: Sequence[Any] | None) -> list[Row]:
    """Every row with key greater than `after_key` and at most `upto_key` (None: unbounded), in key order."""
    conditions, params = [], []
    for bound, negate in ((after_key, ""), (upto_key, "NOT ")):
        if bound is not None:
            conditions.append(negate + _after(schema.key))
            params.extend(_after_params(bound))
    sql = (f"SELECT {', '.join(map(quote, schema.column_names))} FROM {qualified(schema.database, schema.name)}"
           f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''} ORDER BY {', '.join(map(quote, schema.key))}")
    return _decoded(schema, query(conn, sql, params))


def read_keys(conn: pymysql.Connection, schema: TableSchema, keys: Sequence[Sequence[Any]],
              where: str | None) -> list[Row]:
    """The rows with these keys (that match `where`)."""
    if not keys:
        return []
    one = "(" + ", ".join("%s" for _ in schema.key) + ")"
    conditions = [f"({', '.join(map(quote, schema.key))}) IN ({', '.join(one for _ in keys)})"]
    conditions += [f"({where})"] if where else []
    sql = (f"SELECT {', '.join(map(quote, schema.column_names))} FROM {qualified(schema.database, schema.name)}"
           f" WHERE {' AND '.join(conditions)}")
    return _decoded(schema, query(conn, sql, [value for key in keys for value in key]))


def _decoded(schema: TableSchema, rows: Sequence[Sequence[Any]]) -> list[Row]:
    names = schema.column_names
    bits = bit_columns([column.type for column in schema.columns])
    return [dict(zip(names, normalise_selected(row, bits))) for row in rows]


def _after_params(key: Sequence[Any]) -> list[Any]:
    """The parameters of `_after` for the key values `key`."""
    return [value for index in range(len(key)) for value in key[: index + 1]]


def _after(key: Sequence[str]) -> str:
    alternatives = []
    for index, name in enumerate(key):
        equal = [f"{quote(previous)} = %s" for previous in key[:index]]
        alternatives.append("(" + " AND ".join([*equal, f"{quote(name)} > %s"]) + ")")
    return "(" + " OR ".join(alternatives) + ")"


def estimate_rows(conn: pymysql.Connection, database: str, table: str) -> int:
    """InnoDB's estimate (exact counts of big tables take too long)."""
    return int(scalar(conn, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                            "AND TABLE_NAME = %s", (database, table)) or 0)


def ordered_rows(conn: pymysql.Connection, schema: TableSchema, database: str, table: str,
                 where: str | None) -> Any:
    """Every row (columns in name order, normalised) in key order, streamed, for checksums."""
    names = sorted(schema.column_names)
    types = {column.name: column.type for column in schema.columns}
    bits = bit_columns([types[name] for name in names])
    sql = (f"SELECT {', '.join(map(quote, names))} FROM {qualified(database, table)}"
           f"{f' WHERE ({where})' if where else ''} ORDER BY {', '.join(map(quote, schema.key))}")
    with conn.cursor(pymysql.cursors.SSCursor) as cursor:
        cursor.execute(sql)
        for row in cursor:
            yield normalise_selected(row, bits)
