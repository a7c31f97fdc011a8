"""Column values as SQL literal text, for the statements the sink writes out itself.

pymysql escapes a parameter through several generic layers (`Cursor.mogrify`, `Connection.escape`,
`converters.escape_item`, then the statement's `%` formatting); an applier sends every value of
every change, so `RowLiterals` picks one function per value by its exact type with one dict
lookup and joins a row's literals. The texts are pymysql's own (its per-type encoders), except
durations and sets, which go as `values.to_param` renders them, and bytes, always as X'hex'; a
type not listed is escaped by pymysql after `to_param`, as before.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Callable, Iterable

import pymysql
from pymysql import converters

from dtsctl.connectors.mysql.values import to_param
from dtsctl.engine.events import format_duration


class RowLiterals:
    """Literal text of values, with `conn`'s string escaping (it follows the session's
    NO_BACKSLASH_ESCAPES)."""

    def __init__(self, conn: pymysql.Connection) -> None:
        escape = conn.escape

        def bytes_literal(value: bytes) -> str:
            return f"X'{value.hex()}'"

        def duration(value: datetime.timedelta) -> str:
            return escape(format_duration(value))

        def members(value: set[str] | frozenset[str]) -> str:
            return escape(to_param(value))

        def exact(value: decimal.Decimal) -> str:
            return converters.Decimal2Literal(value, None)

        def moment(value: datetime.datetime) -> str:
            # isoformat (C) writes pymysql's text for a naive value; pymysql drops a zone, isoformat would not
            return f"'{value.isoformat(' ')}'" if value.tzinfo is None else converters.escape_datetime(value)

        self._by_type: dict[type, Callable[[Any], str]] = {
            int: int.__repr__, str: escape, bytes: bytes_literal, type(None): lambda _: "NULL",
            decimal.Decimal: exact, float: converters.escape_float, bool: converters.escape_bool,
            datetime.datetime: moment, datetime.date: converters.escape_date,
            datetime.time: converters.escape_time, datetime.timedelta: duration, set: members, frozenset: members}
        self._escape = escape

    def literal(self, value: Any) -> str:
        write = self._by_type.get(type(value))
        return write(value) if write is not None else self._escape(to_param(value))

    def row(self, values: Iterable[Any]) -> str:
        """`(v1,v2,...)`."""
        by_type, literal = self._by_type, self.literal
        return "(" + ",".join([(by_type.get(type(value)) or literal)(value) for value in values]) + ")"
