"""The sink's own value literals (dtsctl.connectors.mysql.escape): the text pymysql's escaping
writes for every type, bytes as X'..', and the session's NO_BACKSLASH_ESCAPES followed."""

from __future__ import annotations

import datetime
import decimal

from dtsctl.connectors.mysql.connection import connect, query
from dtsctl.connectors.mysql.escape import RowLiterals
from dtsctl.connectors.mysql.values import to_param
from tests.integration.mysql.conftest import endpoint

VALUES = [0, -5, 2**64 - 1, True, 0.1 + 0.2, -1.5e-300, "", "it's a \\ \"quote\"\n\0 ☃", b"", b"\x00'\\\xff",
          bytearray(b"x"), None, decimal.Decimal("1E+2"), decimal.Decimal("-0.000001"),
          decimal.Decimal("12345678901234567890.123456789"),
          datetime.datetime(2026, 12, 2, 15, 0, 0, 123456), datetime.datetime(1, 1, 1),
          datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
          datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), datetime.date(1000, 1, 1),
          datetime.time(1, 2, 3, 4), datetime.timedelta(days=-1, seconds=41399, microseconds=5),
          datetime.timedelta(hours=838, minutes=59, seconds=59), {"b", "a"}, frozenset()]


def test_every_literal_is_the_text_pymysql_would_send(mariadb_destination):
    conn = connect(endpoint(mariadb_destination), "destination")
    literals = RowLiterals(conn)
    expected = [f"X'{bytes(value).hex()}'" if isinstance(value, (bytes, bytearray)) else conn.escape(to_param(value))
                for value in VALUES]
    assert [literals.literal(value) for value in VALUES] == expected
    assert literals.row(VALUES) == "(" + ",".join(expected) + ")"


def test_text_and_bytes_come_back_as_written_with_and_without_backslash_escapes(mariadb_destination):
    conn = connect(endpoint(mariadb_destination), "destination")
    literals = RowLiterals(conn)
    text, data = "it's a \\ \"quote\"\n\0 ☃", b"\x00'\\\xff"
    for mode in ("STRICT_ALL_TABLES", "STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES"):
        query(conn, f"SET SESSION sql_mode = '{mode}'")
        assert query(conn, f"SELECT {literals.literal(text)}, {literals.literal(data)}") == [(text, data)], mode
