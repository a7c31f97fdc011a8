"""Row look-ups for verify, by key range and by keys, shared by the SQLite source and sink."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from dtsctl.connectors.sqlite.connection import quote
from dtsctl.engine.events import Row


def read_range(conn: sqlite3.Connection, table: str, names: Sequence[str], key: Sequence[str],
               after_key: Sequence[Any] | None, upto_key: Sequence[Any] | None) -> list[Row]:
    """Rows with key greater than `after_key` and at most `upto_key` (None: unbounded), in key order."""
    columns = ", ".join(map(quote, key))
    marks = ", ".join("?" for _ in key)
    conditions, params = [], []
    for bound, comparison in ((after_key, ">"), (upto_key, "<=")):
        if bound is not None:
            conditions.append(f"({columns}) {comparison} ({marks})")
            params.extend(bound)
    sql = (f"SELECT {', '.join(map(quote, names))} FROM {quote(table)}"
           f"{' WHERE ' + ' AND '.join(conditions) if conditions else ''} ORDER BY {columns}")
    return [dict(zip(names, row)) for row in conn.execute(sql, params)]


def read_keys(conn: sqlite3.Connection, table: str, names: Sequence[str], key: Sequence[str],
              keys: Sequence[Sequence[Any]], where: str | None) -> list[Row]:
    """The rows with these keys (that match `where`)."""
    if not keys:
        return []
    one = "(" + ", ".join("?" for _ in key) + ")"
    conditions = [f"({', '.join(map(quote, key))}) IN (VALUES {', '.join(one for _ in keys)})"]
    conditions += [f"({where})"] if where else []
    sql = f"SELECT {', '.join(map(quote, names))} FROM {quote(table)} WHERE {' AND '.join(conditions)}"
    return [dict(zip(names, row)) for row in conn.execute(sql, [value for k in keys for value in k])]
