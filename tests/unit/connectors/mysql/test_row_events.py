"""The source's row events of a transaction as BINLOG statements (dtsctl.connectors.mysql.row_events)."""

from __future__ import annotations

import base64
import struct
import zlib

from dtsctl.connectors.mysql.row_events import TransactionEvents, binlog_statements, renamed

WRITE_ROWS_V1 = 23


def _event(kind: int, body: bytes, checksum: bool = True) -> bytes:
    size = 19 + len(body) + (4 if checksum else 0)
    header = struct.pack("<IBIII", 1_700_000_000, kind, 1, size, 0) + b"\x00\x00"
    event = header + body
    return event + (struct.pack("<I", zlib.crc32(event)) if checksum else b"")


def _table_map(table_id: int, database: str, table: str, checksum: bool = True) -> bytes:
    body = (table_id.to_bytes(6, "little") + b"\x01\x00" + bytes([len(database)]) + database.encode() + b"\x00"
            + bytes([len(table)]) + table.encode() + b"\x00" + b"\x01\x03\x00\x01")  # one INT column
    return _event(19, body, checksum)


def _rows(table_id: int, end: bool) -> bytes:
    return _event(WRITE_ROWS_V1, table_id.to_bytes(6, "little") + (b"\x01\x00" if end else b"\x00\x00") + b"\x01\xff"
                  + b"\x00" + (7).to_bytes(4, "little"))


def _description(checksum: bool) -> bytes:
    return b"\x00" * 60 + (b"\x01" if checksum else b"\x00") + b"\x00\x00\x00\x00"


def test_each_statement_maps_its_tables_once_and_an_open_statement_carries_nothing():
    events = TransactionEvents()
    events.begin()
    events.add(5, _rows(5, end=False), _table_map(5, "shop", "a"))
    events.add(5, _rows(5, end=True), _table_map(5, "shop", "a"))
    events.add(5, _rows(5, end=True), _table_map(5, "shop", "a"))  # the next statement maps it again
    description, carried = events.native(_description(True))
    assert carried == (_table_map(5, "shop", "a"), _rows(5, False), _rows(5, True), _table_map(5, "shop", "a"),
                       _rows(5, True))
    events.begin()
    events.add(5, _rows(5, end=False), _table_map(5, "shop", "a"))
    assert events.native(_description(True)) is None  # its end was an event of a table not selected
    events.begin()
    events.add(5, _rows(5, end=True), _table_map(5, "shop", "a"))
    events.spoil()
    assert events.native(_description(True)) is None


def test_renamed_table_maps_get_their_size_and_checksum_recomputed():
    for checksum in (True, False):
        rows = _event(WRITE_ROWS_V1, b"\x05" + b"\x00" * 5 + b"\x01\x00\x01\xff\x00" + b"\x07\x00\x00\x00", checksum)
        native = (_description(checksum), (_table_map(5, "shop", "a", checksum), rows))
        [(_, events)] = renamed([native], {("shop", "a"): ("shop_copy", "b")})
        assert events == (_table_map(5, "shop_copy", "b", checksum), rows)
    untouched = (_description(True), (_table_map(6, "other", "t"),))
    assert renamed([untouched], {("shop", "a"): ("x", "y")}) == [untouched]


def test_statements_keep_transactions_whole_under_the_packet_limit():
    description = _description(True)
    natives = [(description, (_table_map(5, "shop", "a"), _rows(5, True)))] * 10
    limit = 4 * (3 * len(_table_map(5, "shop", "a") + _rows(5, True)) + 64) // 3 + 4
    statements = list(binlog_statements(natives, max_bytes=limit))
    decoded = [base64.b64decode(statement[len("BINLOG '"):-1]) for statement in statements]
    assert decoded[0] == description
    assert len(decoded) > 2 and all(len(statement) <= limit for statement in statements[1:])
    # each statement joins its transactions into one source statement: one map, STMT_END once at the end
    rows = 0
    for chunk in decoded[1:]:
        assert chunk.startswith(_table_map(5, "shop", "a")) and chunk.count(_table_map(5, "shop", "a")) == 1
        count = (len(chunk) - len(_table_map(5, "shop", "a"))) // len(_rows(5, True))
        assert chunk.endswith(_rows(5, False) * (count - 1) + _rows(5, True))
        rows += count
    assert rows == 10
