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
from dtsctl.engine.tables.interfaces import TableSchema


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
    """Up to `limit` rows after `after_key` in key order. The key comparison is spelled out
    as (a > x) OR (a = x AND b > y) ... so every MariaDB version uses the key's index range."""
    names = schema.column_names
    conditions = [f"({where})"] if where else []
    params: list[Any] = []
    if after_key is not None:
        conditions.append(_after(schema.key))
        for index in range(len(schema.key)):
            params.extend(after_key[: index + 1])
    sql = (f"SELECT {', '.join(map(quote, names))} FROM {qualified(schema.database, schema.name)}"
           f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''}"
           f" ORDER BY {', '.join(map(quote, schema.key))} LIMIT {int(limit)}")
    bits = bit_columns([column.type for column in schema.columns])
    return [dict(zip(names, normalise_selected(row, bits))) for row in query(conn, sql, params)]


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
