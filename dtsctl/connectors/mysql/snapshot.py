"""Consistent reads of the source: a snapshot transaction and the binlog position it matches.

`START TRANSACTION WITH CONSISTENT SNAPSHOT` on MariaDB also fixes the status values
`binlog_snapshot_file` / `binlog_snapshot_position`: the binlog point the read view
matches exactly. `BINLOG_GTID_POS` turns it into the GTID state a stream resumes from,
so the stream starts where the snapshot ends.
"""

from __future__ import annotations

from typing import Any, Sequence

import pymysql

from dtsctl.connectors.mysql import literals, position as positions
from dtsctl.connectors.mysql.connection import qualified, query, quote, scalar
from dtsctl.connectors.mysql.values import bit_columns, normalise_selected
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import Row
from dtsctl.engine.tables.interfaces import EncodedRows, TableSchema


def open_snapshot(conn: pymysql.Connection) -> positions.Position:
    """Start a consistent-snapshot transaction on `conn`; the binlog position it matches."""
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SET SESSION group_concat_max_len = @@max_allowed_packet")  # a chunk's lines as one value
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        cursor.execute("SHOW STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
        status = {name.lower(): value for name, value in cursor.fetchall()}
    file, offset = status.get("binlog_snapshot_file") or "", int(status.get("binlog_snapshot_position") or 0)
    return positions.make(_gtid_state_at(conn, file, offset) if file else "", file, offset)


def current_position(conn: pymysql.Connection) -> positions.Position:
    """The binlog end now, with the GTID state that matches it exactly."""
    rows = query(conn, "SHOW MASTER STATUS")
    if not rows:
        return positions.make(scalar(conn, "SELECT @@GLOBAL.gtid_binlog_pos") or "", "", 0)
    file, offset = rows[0][0], int(rows[0][1])
    return positions.make(_gtid_state_at(conn, file, offset), file, offset)


def _gtid_state_at(conn: pymysql.Connection, file: str, offset: int) -> str:
    """The GTID state at a binlog position ("" before any GTID). `BINLOG_GTID_POS` gives NULL when it
    cannot read the binlog up to there, which an empty state would turn into a stream from the first
    binlog: every old change again, DROP TABLE statements included."""
    state = scalar(conn, "SELECT BINLOG_GTID_POS(%s, %s)", (file, offset))
    if state is None:
        raise FatalError(
            f"the source cannot tell which GTIDs its binlog holds up to {file}:{offset} (BINLOG_GTID_POS "
            "gave nothing: the binlog holds an event larger than this session's max_allowed_packet, or the "
            "file is unreadable); raise max_allowed_packet on the source above its largest binlog event, "
            "then apply again")
    return state


def read_chunk(conn: pymysql.Connection, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
               where: str | None) -> list[Row]:
    """Up to `limit` rows after `after_key` in key order."""
    return _decoded(schema, query(conn, *_chunk_query(schema, list(map(quote, schema.column_names)), after_key,
                                                      limit, where)))


def read_text_chunk(conn: pymysql.Connection, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                    where: str | None, form: str) -> EncodedRows | None:
    """Up to `limit` rows after `after_key` in key order as text in `form` (dtsctl.connectors.mysql.literals),
    built by the server, with the last row's key; None when a column's type has no text form
    or a row is longer than the server builds (then read decoded rows)."""
    row = literals.row_expression(schema.columns, form)
    if row is None:
        return None
    if form == literals.LOAD_FORM and _max_is_last(schema):
        grouped = _read_grouped(conn, schema, row, after_key, limit, where)
        if grouped is not None:
            return grouped
    rows = query(conn, *_chunk_query(schema, [row, *map(quote, schema.key)], after_key, limit, where))
    if any(selected[0] is None for selected in rows):  # longer than max_allowed_packet: CONCAT gave NULL
        return None
    last = tuple(normalise_selected(rows[-1][1:], _key_bits(schema))) if rows else ()
    return EncodedRows(form, tuple(selected[0] for selected in rows), last, len(rows))


# Key types whose MAX() is the last value in ORDER BY order (not ENUM or SET: MAX compares their text).
_MAX_ORDERED = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "date", "datetime",
                "timestamp", "time", "year", "char", "varchar", "binary", "varbinary"}


def _max_is_last(schema: TableSchema) -> bool:
    if len(schema.key) != 1:
        return False
    column = next(column for column in schema.columns if column.name == schema.key[0])
    return column.type.lower().split("(")[0].split()[0] in _MAX_ORDERED


def _read_grouped(conn: pymysql.Connection, schema: TableSchema, row: str, after_key: Sequence[Any] | None,
                  limit: int, where: str | None) -> EncodedRows | None:
    """The chunk's lines joined by the server into one value, which spares the agent a result row
    (and its Python work) per table row; None when the value could not hold every line whole
    (a row too long, or more than group_concat_max_len in all): then they are read one by one."""
    key = quote(schema.key[0])
    inner, params = _chunk_query(schema, [f"{row} AS dtsctl_line", f"{key} AS dtsctl_key"], after_key, limit, where)
    text, count, lines, length, last = query(
        conn, "SELECT GROUP_CONCAT(dtsctl_line SEPARATOR '\\n'), COUNT(*), COUNT(dtsctl_line), "
              f"SUM(LENGTH(dtsctl_line)), MAX(dtsctl_key) FROM ({inner}) AS chunk", params)[0]
    if not count:
        return EncodedRows(literals.LOAD_FORM, (), (), 0)
    if lines != count or text is None or len(text) != int(length) + count - 1:
        return None
    return EncodedRows(literals.LOAD_FORM, (text,), tuple(normalise_selected([last], _key_bits(schema))), count)


def _key_bits(schema: TableSchema) -> list[int]:
    types = {column.name: column.type for column in schema.columns}
    return bit_columns([types[name] for name in schema.key])


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
