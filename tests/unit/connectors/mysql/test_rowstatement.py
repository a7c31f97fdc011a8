"""Source statements' row events joined into one statement (dtsctl.connectors.mysql._rowstatement)."""

from __future__ import annotations

import struct
import zlib

import pytest

from dtsctl.connectors.mysql._rowstatement import one_statement
from tests.unit.connectors.mysql.test_row_events import _event, _rows, _table_map

DELETE_ROWS_V1 = 25


def _split(joined: bytes) -> list[bytes]:
    events, at = [], 0
    while at < len(joined):
        size = struct.unpack_from("<I", joined, at + 9)[0]
        events.append(joined[at:at + size])
        at += size
    return events


def _stmt_end(event: bytes) -> bool:
    return bool(event[25] & 1)


def _checksum_holds(event: bytes) -> bool:
    return struct.unpack("<I", event[-4:])[0] == zlib.crc32(event[:-4])


def test_each_table_is_mapped_once_before_every_rows_event_and_only_the_last_ends_the_statement():
    """The server opens a statement's tables at its first rows event and skips rows of a table
    mapped after it: every map comes first."""
    a, b = _table_map(5, "shop", "a"), _table_map(6, "shop", "b")
    transactions = [a, _rows(5, False), b, _rows(6, True), a, _rows(5, True), b, _rows(6, True)]
    events = _split(one_statement(transactions, True))
    assert [event[4] for event in events] == [19, 19, 23, 23, 23, 23]
    assert events[0] == a and events[1] == b
    assert [_stmt_end(event) for event in events if event[4] != 19] == [False, False, False, True]
    assert all(_checksum_holds(event) for event in events)
    # the rows themselves are unchanged, in order
    assert [event[19:25] + event[27:-4] for event in events if event[4] != 19] == \
        [event[19:25] + event[27:-4] for event in transactions if event[4] != 19]


def test_without_checksums_only_the_flags_change():
    events = _split(one_statement([_table_map(5, "shop", "a", False), _event(23, _rows(5, True)[19:-4], False),
                                   _table_map(5, "shop", "a", False), _event(23, _rows(5, True)[19:-4], False)],
                                  False))
    assert [_stmt_end(event) for event in events if event[4] != 19] == [False, True]
    assert len(events) == 3


def test_a_table_id_mapped_to_another_table_ends_the_statement_there():
    a, b, reused = _table_map(5, "shop", "a"), _table_map(6, "shop", "b"), _table_map(5, "shop", "c")
    events = _split(one_statement([a, _rows(5, True), b, _rows(6, True), reused, _rows(5, True), b, _rows(6, True)],
                                  True))
    assert [event[4] for event in events] == [19, 19, 23, 23, 19, 19, 23, 23]
    assert events[4] == reused and events[5] == b  # the new statement maps b again
    assert [_stmt_end(event) for event in events if event[4] != 19] == [False, True, False, True]
    assert all(_checksum_holds(event) for event in events)


def test_a_map_written_after_the_statement_ends_opens_the_next_one():
    a, b, reused = _table_map(5, "shop", "a"), _table_map(6, "shop", "b"), _table_map(5, "shop", "c")
    # b is mapped after a's last rows event and before the id 5 is reused: b belongs to the new statement
    events = _split(one_statement([a, _rows(5, True), b, reused, _rows(6, False), _rows(5, True), b,
                                   _rows(6, True)], True))
    assert [event[4] for event in events] == [19, 23, 19, 19, 23, 23, 23]


def test_events_that_are_not_row_events_are_refused():
    with pytest.raises(ValueError):
        one_statement([b"short"], True)
    with pytest.raises(ValueError):
        one_statement([_table_map(5, "shop", "a")], True)  # a map no rows event uses
