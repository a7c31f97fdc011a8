"""Row filters: a SQL WHERE expression per table, evaluated on change events.

The full copy pushes the filter down to the source; changes are tested here, with
an in-memory SQLite database binding the row's values as columns. `route`
turns an event into what the filtered destination must see: an update that moves
a row into the filter becomes an insert, out of it a delete.
"""

from __future__ import annotations

import datetime
import decimal
import sqlite3
from typing import Any, Sequence

from dtsctl.engine.events import Op, Row


class FilterEvaluator:
    """Evaluates filters against row images; one per thread."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:")
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}

    def matches(self, expression: str, row: Row) -> bool:
        columns = tuple(row)
        sql = self._sql.get((expression, columns))
        if sql is None:
            projection = ", ".join(f"? AS {_quote(name)}" for name in columns) or "NULL AS _"
            sql = f"SELECT CASE WHEN ({expression}) THEN 1 ELSE 0 END FROM (SELECT {projection})"
            self._sql[(expression, columns)] = sql
        return self._conn.execute(sql, tuple(_comparable(value) for value in row.values())).fetchone()[0] == 1

    def check(self, expression: str, columns: Sequence[str]) -> str | None:
        """None when `expression` is valid over these columns, else the SQL error."""
        try:
            self.matches(expression, {name: None for name in columns})
        except sqlite3.Error as exc:
            return str(exc)
        return None

    def route(self, expression: str | None, op: Op, before: Row | None, after: Row | None) -> Op | None:
        """The operation the destination needs under the filter, or None to drop the change."""
        if expression is None:
            return op
        was_in = before is not None and self.matches(expression, before)
        is_in = after is not None and self.matches(expression, after)
        if was_in and is_in:
            return "update"
        if is_in:
            return "insert"
        if was_in:
            return "delete"
        return None


def _comparable(value: Any) -> Any:
    """A value SQLite can bind and compare as SQL would: decimals as numbers, dates and times
    as ISO text (which orders like the values), sets as their comma-separated text."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**63 - 1:
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return ",".join(sorted(value))
    return value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
