"""The compiled packet scan: which packets it takes, what it gives for them, and where it stops
(leaving the packet for the packet-at-a-time path)."""

from __future__ import annotations

import struct

from dtsctl.connectors.mysql._binlogscan import scan

GTID, XID, TABLE_MAP, QUERY, WRITE_ROWS, FORMAT = 162, 16, 19, 2, 30, 15


def event(kind: int, body: bytes, log_pos: int = 1000, timestamp: int = 1_700_000_000, server_id: int = 7) -> bytes:
    """A binlog event as a packet payload: the OK byte, the 19-byte header, the body."""
    return b"\x00" + struct.pack("<IBIIIH", timestamp, kind, server_id, 19 + len(body), log_pos, 0) + body


def frame(payload: bytes, seq: int) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def stream(*payloads: bytes, seq: int = 1) -> bytes:
    return b"".join(frame(payload, (seq + index) % 256) for index, payload in enumerate(payloads))


def query(statement: bytes, schema: bytes = b"") -> bytes:
    # thread id, time, schema length, error code, status length (0), schema, NUL, statement
    return struct.pack("<IIBHH", 1, 0, len(schema), 0, 0) + schema + b"\x00" + statement


def table_map(table_id: int, name: bytes = b"t") -> bytes:
    return table_id.to_bytes(6, "little") + b"\x01\x00" + b"\x01d\x00" + bytes([len(name)]) + name + b"\x00\x01\x03\x00\x00"


def test_gtid_begin_a_known_table_map_rows_and_xid_are_taken_in_one_call():
    mapping = event(TABLE_MAP, table_map(42), log_pos=300)
    rows_body = (42).to_bytes(6, "little") + b"\x01\x00\x02\x00\x01\xff\x00\x05\x00\x00\x00"
    payloads = [event(GTID, struct.pack("<QIB", 9, 0, 0), log_pos=200), event(QUERY, query(b"BEGIN"), log_pos=250),
                event(TABLE_MAP, table_map(42), log_pos=350), event(WRITE_ROWS, rows_body, log_pos=400),
                event(XID, struct.pack("<Q", 5), log_pos=450)]
    data = stream(*payloads)
    items, taken, next_seq, log_pos = scan(data, 1, 0, {42: mapping[1:]}, {42: object()}, None)
    assert taken == len(data) and next_seq == 6 and log_pos == 450
    gtid, rows, xid = items
    assert gtid == (GTID, 200, 1_700_000_000, 7, 9, 0, 0)
    assert xid == (XID, 450, 1_700_000_000)
    kind, position, timestamp, start, end, table_id = rows
    assert (kind, position, table_id) == (WRITE_ROWS, 400, 42)
    assert data[start:end] == payloads[3]


def test_a_table_map_is_left_to_the_packet_path_unless_the_library_mapped_it_as_kept():
    kept = event(TABLE_MAP, table_map(42))
    changed = event(TABLE_MAP, table_map(42, b"u"))
    assert scan(stream(kept), 1, 0, {}, {42: object()}, None)[:2] == ([], 0)  # not kept yet
    assert scan(stream(kept), 1, 0, {42: kept[1:]}, {}, None)[:2] == ([], 0)  # the library has not mapped it
    assert scan(stream(changed), 1, 0, {42: kept[1:]}, {42: object()}, None)[:2] == ([], 0)  # another definition
    moved = event(TABLE_MAP, table_map(42), log_pos=9999, timestamp=5)  # only the header differs
    assert scan(stream(moved), 1, 0, {42: kept[1:]}, {42: object()}, None)[:2] == ([], len(stream(moved)))


def test_it_stops_at_what_the_packet_path_reads():
    xid = event(XID, struct.pack("<Q", 5))
    other = [
        event(QUERY, query(b"CREATE TABLE t (id INT)")),  # a statement other than BEGIN
        event(FORMAT, b"\x04\x00" + b"\x00" * 80),  # any other event
        b"\xff\x10\x04#HY000boom",  # an error packet
        b"\xfe\x00\x00\x02\x00",  # the end of the stream
    ]
    for payload in other:
        data = stream(xid, payload)
        items, taken, next_seq, _ = scan(data, 1, 0, {}, {}, None)
        assert len(items) == 1 and taken == len(stream(xid)) and next_seq == 2
    whole = stream(xid, xid)
    assert scan(whole[:-3], 1, 0, {}, {}, None)[1] == len(stream(xid))  # the second packet is incomplete
    assert scan(whole, 2, 0, {}, {}, None)[:2] == ([], 0)  # out of sequence: the packet path raises
    big = b"\xff\xff\xff\x01" + xid  # 16 MiB or more: continued in the next packet
    assert scan(big, 1, 0, {}, {}, None)[:2] == ([], 0)


def test_the_checksum_is_not_taken_for_the_event():
    payload = event(QUERY, query(b"BEGIN") + b"\x01\x02\x03\x04")
    assert scan(stream(payload), 1, 4, {}, {}, None)[1] == len(stream(payload))  # BEGIN before its checksum
    assert scan(stream(payload), 1, 0, {}, {}, None)[1] == 0  # without a checksum it is not BEGIN


def test_a_database_not_selected_is_dropped_as_the_library_drops_it():
    other = event(TABLE_MAP, table_map(43))  # of database "d"
    rows = event(WRITE_ROWS, (43).to_bytes(6, "little") + b"\x01\x00\x02\x00\x01\xff\x00\x05\x00\x00\x00")
    data = stream(other, rows)
    assert scan(data, 1, 0, {}, {}, frozenset({b"main"}))[:2] == ([], len(data))  # neither reaches Python
    assert scan(data, 1, 0, {}, {}, frozenset({b"d"}))[:2] == ([], 0)  # selected: the library maps it first
    assert scan(data, 1, 0, {}, {}, None)[:2] == ([], 0)  # every database is selected
