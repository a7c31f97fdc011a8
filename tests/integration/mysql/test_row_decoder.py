"""The per-table row decoders give exactly the values of python-mysql-replication's decoding (normalised),
for every column type of the MySQL issue, NULLs, edge values, updates and deletes, read from a real binlog."""

from __future__ import annotations

from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from dtsctl.connectors.mysql.connection import settings
from dtsctl.connectors.mysql.row_decoder import build, library_rows
from dtsctl.engine import records
from tests.integration.mysql.conftest import endpoint
from tests.integration.mysql.test_types_and_ddl import FULL, TYPES

EDGES = ("(%s, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '-0.000000000000000000000000000001', 0, -0.0, -1e308, "
         "'2024-02-29', '2000-01-01 00:00:00', '1970-01-01 00:00:01', '838:59:59', '00:00:00', 2155, '', '', '', '', "
         "x'', x'', x'', 'b c', '', '[]', b'0', b'0', b'0')")
WIDE_TEXT = "(id INT PRIMARY KEY, v VARCHAR(300), l VARCHAR(20) CHARACTER SET latin1, d DECIMAL(18,9), " \
            "p DECIMAL(5,0), t3 TIME(3), d1 DATETIME(1), s TIMESTAMP(2) NULL)"


def _stream(server: Any, database: str, gtid: str) -> BinLogStreamReader:
    return BinLogStreamReader(connection_settings=settings(endpoint(server)), server_id=91_000 + server.port,
                              auto_position=gtid, is_mariadb=True, blocking=False, freeze_schema=True,
                              only_schemas=[database],
                              only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent])


def _types(rows: list[Any]) -> list[Any]:
    return [[None if image is None else {name: type(value) for name, value in image.items()} for image in images]
            for images in rows]


def _exactly(rows: list[Any]) -> list[Any]:
    return [[None if image is None else {name: repr(value) for name, value in image.items()} for image in images]
            for images in rows]


def write_types(server: Any, db: str) -> str:
    """Create `types` with a row of every type (id 1) and one of NULLs (id 2); the GTID state before."""
    start = server.gtid_binlog_pos()
    server.execute(f"CREATE TABLE `{db}`.types {TYPES}")
    server.execute(f"INSERT INTO `{db}`.types VALUES {FULL}", 1)
    server.execute(f"INSERT INTO `{db}`.types (id) VALUES (2)")  # NULL in every column
    return start


def test_fast_decoders_match_the_library_for_every_type(mariadb_source, fresh_database):
    server = mariadb_source
    db = fresh_database(server)
    start = write_types(server, db)
    server.execute(f"CREATE TABLE `{db}`.wide {WIDE_TEXT}")
    server.execute(f"INSERT INTO `{db}`.types VALUES {EDGES}", 3)
    server.execute(f"INSERT INTO `{db}`.types VALUES {FULL}, {EDGES}", 4, 5)  # two rows in one event
    server.execute(f"UPDATE `{db}`.types SET v = 'x', bt = b'1', st = 'y', tn = '-12:30:01.5', "
                   "de = 0.5, dm = 1.25 WHERE id = 1")
    server.execute(f"UPDATE `{db}`.types SET st = '', bn = x'00000000', y = NULL WHERE id IN (3, 4)")
    server.execute(f"UPDATE `{db}`.types SET dt = '2024-02-00', dtm = '2024-00-10 10:00:00' WHERE id = 3")  # zero parts
    server.execute(f"DELETE FROM `{db}`.types WHERE id IN (2, 5)")
    server.execute(f"INSERT INTO `{db}`.wide VALUES (1, REPEAT('é', 300), 'café €', -123456789.000000001, "
                   "-99999, '-01:02:03.456', '2020-05-06 07:08:09.1', '2030-01-01 00:00:00.99')")
    server.execute(f"INSERT INTO `{db}`.wide VALUES (2, '', '', 0, 0, '00:00:00.001', '0001-01-01', NULL)")

    stream = _stream(server, db, start)
    decoded: dict[str, list[Any]] = {"types": [], "wide": []}
    try:
        for event in stream:
            decoder = build(event.columns)
            assert decoder is not None, f"no fast decoder for {event.table}"
            stored = decoder.rows(event)
            assert stored is not None
            fast = [(records.row(before), records.row(after)) for before, after in stored]
            library = library_rows(event)
            assert fast == library
            assert _types(fast) == _types(library)  # not only equal values (1 == 1.0 == True)
            assert _exactly(fast) == _exactly(library)  # repr: Decimal("1.50") == Decimal("1.5"), but not exactly
            decoded[event.table].extend(fast)
    finally:
        stream.close()
    assert len(decoded["types"]) == 11  # 5 inserts, 4 updates, 2 deletes
    assert len(decoded["wide"]) == 2
