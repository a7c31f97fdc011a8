"""The hot-event reader gives exactly what python-mysql-replication gives for the same binlog:
the same GTIDs, commit positions and timestamps, the same rows at the same positions, and it
reads them itself (no library event objects) while leaving DDL and the rest to the library."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from dtsctl.connectors.mysql.connection import Connection, settings
from dtsctl.connectors.mysql.hot_events import Gtid, HotStreamReader, Rows, Xid
from dtsctl.connectors.mysql.row_decoder import Decoders, library_rows
from dtsctl.engine import records
from tests.integration.mysql.conftest import endpoint
from tests.integration.mysql.test_row_decoder import write_types

_EVENTS = [MariadbGtidEvent, QueryEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent]
_OPS = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


def _options(server: Any, database: str, gtid: str, server_id: int) -> dict[str, Any]:
    return dict(connection_settings=settings(endpoint(server)), server_id=server_id, auto_position=gtid,
                is_mariadb=True, blocking=False, freeze_schema=True, only_schemas=[database], only_events=_EVENTS)


def _summary(event: Any) -> tuple[Any, ...] | None:
    """What the binlog stream uses of an event, whichever reader made it."""
    if isinstance(event, (Gtid, MariadbGtidEvent)):
        return ("gtid", event.domain_id, event.server_id, event.gtid_seq_no, event.flags)
    if isinstance(event, Xid):
        return ("xid", event.log_pos, event.timestamp)
    if isinstance(event, XidEvent):
        return ("xid", event.packet.log_pos, event.timestamp)
    if isinstance(event, Rows):
        return ("rows", event.schema, event.table, event.op, event.log_pos, event.timestamp,
                [(records.row(before), records.row(after)) for before, after in event.images()])
    if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
        return ("rows", event.schema, event.table, _OPS[type(event)], event.packet.log_pos, event.timestamp,
                library_rows(event))
    if isinstance(event, QueryEvent):
        query = event.query.decode() if isinstance(event.query, bytes) else event.query
        return None if query == "BEGIN" else ("query", query, event.packet.log_pos)
    return None


def _read(reader: BinLogStreamReader) -> tuple[list[tuple[Any, ...]], Counter[type]]:
    events: list[tuple[Any, ...]] = []
    kinds: Counter[type] = Counter()
    try:
        for event in reader:
            kinds[type(event)] += 1
            summary = _summary(event)
            if summary is not None:
                events.append(summary)
    finally:
        reader.close()
    return events, kinds


def test_hot_reader_matches_the_library(mariadb_source, fresh_database):
    server = mariadb_source
    db = fresh_database(server)
    start = write_types(server, db)
    server.execute(f"CREATE TABLE `{db}`.plain (id INT PRIMARY KEY, v VARCHAR(20))")
    for number in range(20):
        server.execute(f"INSERT INTO `{db}`.plain VALUES (%s, 'a')", number)
    server.execute(f"UPDATE `{db}`.plain SET v = 'b' WHERE id < 10")
    server.execute(f"DELETE FROM `{db}`.plain WHERE id >= 15")
    server.execute(f"UPDATE `{db}`.types SET v = 'x' WHERE id = 1")
    server.execute(f"ALTER TABLE `{db}`.plain ADD COLUMN w INT")
    server.execute(f"INSERT INTO `{db}`.plain VALUES (100, 'c', 7)")

    library, _ = _read(BinLogStreamReader(**_options(server, db, start, 92_000 + server.port)))
    hot, kinds = _read(HotStreamReader(Decoders(), **_options(server, db, start, 93_000 + server.port)))

    assert hot == library
    assert sum(1 for event in hot if event[0] == "rows") == 26  # 2 + 20 + 1 + 1 + 1 + 1 events
    assert kinds[Rows] == 26 and kinds[Xid] == 26  # read from the packets
    # the library reads only the first event (while it connects) and the DDL
    assert kinds[MariadbGtidEvent] == 1 and kinds[Gtid] == 28 and kinds[QueryEvent] == 3
    assert not {XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent} & set(kinds)
    assert ("query", f"ALTER TABLE `{db}`.plain ADD COLUMN w INT") in [event[:2] for event in hot]  # the library's


def test_the_stream_and_control_connections_use_the_process_tls_context(mariadb_source, fresh_database):
    server = mariadb_source
    db = fresh_database(server)
    start = server.gtid_binlog_pos()
    server.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    reader = HotStreamReader(Decoders(), **_options(server, db, start, 94_000 + server.port))
    try:
        assert reader.fetchone() is not None  # connected: the stream and the control connection
        assert reader._stream_connection.ctx is reader._ctl_connection.ctx is Connection._preferred
    finally:
        reader.close()


def test_an_event_of_more_than_one_packet_is_read_whole(mariadb_factory):
    """A rows event of 16 MiB or more comes in several protocol packets, which the hot reader joins.
    (A private server: an event larger than the shared servers' max_allowed_packet would stay in
    their binlogs.)"""
    server = mariadb_factory(extra_args=["--max-allowed-packet=64M"])
    server.execute("CREATE DATABASE big")
    server.execute("CREATE TABLE big.big (id INT PRIMARY KEY, body LONGBLOB)")
    start = server.scalar("SELECT @@gtid_binlog_pos")
    body = bytes(range(256)) * (17 * 2 ** 12)  # 17 MiB
    server.execute("INSERT INTO big.big VALUES (1, %s)", body)
    hot, _ = _read(HotStreamReader(Decoders(), **_options(server, "big", start, 94_000 + server.port)))
    rows = [event for event in hot if event[0] == "rows"]
    # One event at one position, holding the whole row. Under load the library may lose the
    # connection mid-event and read the event again from its start: a replay repeats the
    # position and the whole row, where a split event would give pieces at several positions.
    assert len({event[4] for event in rows}) == 1
    assert all(event[-1] == [(None, {"id": 1, "body": body})] for event in rows)


def test_repeated_table_maps_begins_and_hot_events_are_scanned_without_the_packet_path(
        mariadb_source, fresh_database, monkeypatch):
    """After a table's first map, the compiled scan takes every packet of its transactions; rows
    of a table of another database, inside those transactions, still reach the library in order."""
    server = mariadb_source
    db, other = fresh_database(server), fresh_database(server)
    for name in (db, other):
        server.execute(f"CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
    start = server.gtid_binlog_pos()
    connection = server.root_connect(autocommit=False)
    with connection.cursor() as cursor:
        for number in range(50):
            cursor.execute(f"INSERT INTO `{db}`.t VALUES ({number}, 'a')")
            cursor.execute(f"INSERT INTO `{other}`.t VALUES ({number}, 'b')")
            cursor.execute(f"UPDATE `{db}`.t SET v = 'c' WHERE id = {number}")
            connection.commit()
    connection.close()
    packets: Counter[int] = Counter()
    hot_one = HotStreamReader._hot
    monkeypatch.setattr(HotStreamReader, "_hot", lambda self, data: (packets.update([data[5]]), hot_one(self, data))[1])

    library, _ = _read(BinLogStreamReader(**_options(server, db, start, 95_000 + server.port)))
    hot, kinds = _read(HotStreamReader(Decoders(), **_options(server, db, start, 96_000 + server.port)))

    assert hot == library and kinds[Rows] == 100 and kinds[Xid] == 50
    assert packets[19] <= 4  # table maps: the first of each table (and the stream's first packets)
    assert sum(packets.values()) < 20  # of 50 transactions of 7 packets, 350 in all
