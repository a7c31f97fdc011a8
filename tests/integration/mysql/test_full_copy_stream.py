"""Same-engine full copies move rows as text built by the source server, as LOAD DATA lines
(or INSERT literals where the destination refuses LOAD DATA LOCAL, or keeps existing rows):
every type arrives exactly in both forms, columns of any collation concatenate, and what has
no text form here (spatial types, rows longer than the server builds) is read decoded instead."""

from __future__ import annotations

from typing import Any

import pytest

from dtsctl.connectors.mysql.literals import INSERT_FORM, LOAD_FORM
from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.engine.tables.interfaces import EncodedRows
from tests.integration.mysql.conftest import endpoint, table_rows
from tests.integration.mysql.test_types_and_ddl import FULL, TYPES


def copy_encoded(pair: Any, table: str, keep_existing: bool = False, limit: int = 100,
                 form: str | None = None) -> EncodedRows:
    """One encoded chunk of the whole table (in `form`, else the one the sink asks for),
    written to the destination; the chunk."""
    source, sink = MysqlSource(endpoint(pair.source), "t"), MysqlSink(endpoint(pair.destination), "t")
    try:
        schema = source.table_schema(pair.source_db, table)
        assert schema is not None
        chunk = source.read_encoded_chunk(schema, None, limit, None, form or sink.encoded_dialect(keep_existing) or "")
        assert chunk is not None, "the rows should have been read as literals"
        sink.create_table(schema, pair.dest_db, table)
        sink.write_encoded_rows(schema, pair.dest_db, table, chunk, {"step": 1}, keep_existing)
        assert sink.load_checkpoint() == {"step": 1}  # stored with the rows
        return chunk
    finally:
        source.close()
        sink.close()


def test_the_sink_asks_for_load_lines_unless_it_keeps_existing_rows_or_the_server_refuses(pair) -> None:
    sink = MysqlSink(endpoint(pair.destination), "t")
    try:
        assert sink.encoded_dialect(keep_existing=False) == LOAD_FORM
        assert sink.encoded_dialect(keep_existing=True) == INSERT_FORM
    finally:
        sink.close()
    pair.destination.execute("SET GLOBAL local_infile = 0")
    sink = MysqlSink(endpoint(pair.destination), "t")
    try:
        assert sink.encoded_dialect(keep_existing=False) == INSERT_FORM
    finally:
        pair.destination.execute("SET GLOBAL local_infile = 1")
        sink.close()


def test_a_server_asking_for_a_file_gets_none_of_the_agents(pair) -> None:
    pair.destination.execute(f"CREATE DATABASE `{pair.dest_db}`")
    pair.destination.execute(f"CREATE TABLE `{pair.dest_db}`.lines (line TEXT)")
    sink = MysqlSink(endpoint(pair.destination), "t")
    try:
        with sink.conn.cursor() as cursor:
            assert cursor.execute(f"LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE `{pair.dest_db}`.lines") == 0
    finally:
        sink.close()
    assert pair.destination.scalar(f"SELECT COUNT(*) FROM `{pair.dest_db}`.lines") == 0


@pytest.mark.parametrize("form", [LOAD_FORM, INSERT_FORM])
def test_every_type_round_trips_as_text(pair, form: str) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.types {TYPES}")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types VALUES {FULL}", 1)
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id) VALUES (2)")  # NULL in every column
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id, tx, vb, bl, st, bt, f, db, v, c) "
                        "VALUES (3, 'quote '' backslash \\\\ nul \\0 ctrl-z \\Z newline \\n tab \\t comma, end '',', "
                        "'', x'', '', b'0', -0.0, -1e308, 'NULL', '\\\\N')")  # the word NULL and \N as text
    chunk = copy_encoded(pair, "types", form=form)
    assert chunk.dialect == form and chunk.count == 3 and chunk.last_key == (3,)
    assert table_rows(pair.destination, pair.dest_db, "types") == table_rows(pair.source, pair.source_db, "types")


def test_not_null_numbers_dates_and_times_travel_bare_and_exactly(pair) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.bare (id BIGINT UNSIGNED PRIMARY KEY, f FLOAT NOT NULL, "
                        "d DOUBLE NOT NULL, de DECIMAL(65,30) NOT NULL, dt DATETIME(6) NOT NULL, tm TIME(6) NOT NULL, "
                        "ts TIMESTAMP(6) NOT NULL, y YEAR NOT NULL, da DATE NOT NULL)")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.bare VALUES (18446744073709551615, -0.0, 2.2250738585072014e-308, "
                        "'-12345678901234567890123456789012345.123456789012345678901234567890', "
                        "'9999-12-31 23:59:59.999999', '-838:59:59.000000', '2038-01-19 03:14:07.999999', 1901, "
                        "'1000-01-01'), (1, 3.4e38, 1.7976931348623157e308, 0, '1000-01-01 00:00:00', '00:00:00.000001', "
                        "'1970-01-01 00:00:01', 2155, '9999-12-31')")
    chunk = copy_encoded(pair, "bare")
    assert chunk.dialect == LOAD_FORM and chunk.count == 2
    assert table_rows(pair.destination, pair.dest_db, "bare") == table_rows(pair.source, pair.source_db, "bare")


@pytest.mark.parametrize("form", [LOAD_FORM, INSERT_FORM])
def test_columns_of_different_charsets_and_collations_concatenate(pair, form: str) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.mixed (id VARBINARY(8) PRIMARY KEY, "
                        "a VARCHAR(20) CHARACTER SET latin1, b VARCHAR(20) COLLATE utf8mb4_bin, "
                        "c VARCHAR(20) COLLATE utf8mb4_unicode_ci, d TEXT CHARACTER SET ascii) DEFAULT CHARSET=utf8mb4")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.mixed VALUES (x'00ff', 'café', 'Ünï', '😀', 'plain'), "
                        "(x'01', NULL, 'b', 'c', NULL)")
    chunk = copy_encoded(pair, "mixed", form=form)
    assert chunk.last_key == (b"\x01",)
    assert table_rows(pair.destination, pair.dest_db, "mixed") == table_rows(pair.source, pair.source_db, "mixed")


@pytest.mark.parametrize("key", ["id INT", "id ENUM('b', 'a')", "id INT, k2 INT"])
def test_a_chunk_ends_at_its_last_key_in_key_order(pair, key: str) -> None:
    """Lines joined by the server end at MAX(key); an ENUM (whose MAX compares text, not key
    order) and a composite key are read row by row instead."""
    columns = "id, k2" if "k2" in key else "id"
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.keyed ({key} NOT NULL, v INT, PRIMARY KEY ({columns}))")
    values = {"id INT": "(3, 1), (1, 1), (2, 1)", "id ENUM('b', 'a')": "('a', 1), ('b', 1)",
              "id INT, k2 INT": "(1, 9, 1), (2, 1, 1)"}[key]
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.keyed VALUES {values}")
    chunk = copy_encoded(pair, "keyed", limit=2)
    expected = {"id INT": (2,), "id ENUM('b', 'a')": ("a",), "id INT, k2 INT": (2, 1)}[key]
    assert chunk.count == 2 and chunk.last_key == expected
    assert len(chunk.rows) == (1 if key == "id INT" else 2)  # one value for the whole chunk, or a row each


def test_keep_existing_leaves_destination_rows_alone(pair) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.kept (id INT PRIMARY KEY, v VARCHAR(10))")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.kept VALUES (1, 'source'), (2, 'source')")
    pair.destination.execute(f"CREATE DATABASE `{pair.dest_db}`")
    pair.destination.execute(f"CREATE TABLE `{pair.dest_db}`.kept (id INT PRIMARY KEY, v VARCHAR(10))")
    pair.destination.execute(f"INSERT INTO `{pair.dest_db}`.kept VALUES (1, 'newer')")
    copy_encoded(pair, "kept", keep_existing=True)
    assert table_rows(pair.destination, pair.dest_db, "kept") == [(1, "newer"), (2, "source")]
    copy_encoded(pair, "kept")  # the default policy overwrites
    assert table_rows(pair.destination, pair.dest_db, "kept") == [(1, "source"), (2, "source")]


@pytest.mark.parametrize("form", [LOAD_FORM, INSERT_FORM])
def test_spatial_columns_and_oversized_rows_are_read_decoded(pair, form: str) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.places (id INT PRIMARY KEY, p POINT)")
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.big (id INT PRIMARY KEY, bl LONGBLOB)")
    packet = int(pair.source.scalar("SELECT @@max_allowed_packet"))  # its hex literal outgrows this
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.big VALUES (1, REPEAT('x', {packet // 2 + 10}))")
    source = MysqlSource(endpoint(pair.source), "t")
    try:
        for table in ("places", "big"):
            schema = source.table_schema(pair.source_db, table)
            assert schema is not None
            assert source.read_encoded_chunk(schema, None, 10, None, form) is None
    finally:
        source.close()


def test_plain_secondary_keys_are_created_after_the_rows_once(pair) -> None:
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.indexed (id INT PRIMARY KEY, a INT, b VARCHAR(9), "
                        "UNIQUE KEY by_b (b), KEY by_a (a))")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.indexed VALUES (1, 10, 'x'), (2, 10, 'y')")
    source, sink = MysqlSource(endpoint(pair.source), "t"), MysqlSink(endpoint(pair.destination), "t")
    try:
        schema = source.table_schema(pair.source_db, "indexed")
        assert schema is not None
        deferred = sink.deferrable_indexes(schema)
        assert deferred == ["KEY `by_a` (`a`)"]
        sink.create_table(schema, pair.dest_db, "indexed", deferred)
        assert index_names(pair.destination, pair.dest_db, "indexed") == {"PRIMARY", "by_b"}
        chunk = source.read_encoded_chunk(schema, None, 10, None, sink.encoded_dialect(False) or "")
        assert chunk is not None
        sink.write_encoded_rows(schema, pair.dest_db, "indexed", chunk, {"step": 1})
        for _ in range(2):  # again, as after a crash before the checkpoint said so
            sink.build_indexes(pair.dest_db, "indexed", deferred)
            assert index_names(pair.destination, pair.dest_db, "indexed") == {"PRIMARY", "by_b", "by_a"}
    finally:
        source.close()
        sink.close()


def index_names(server: Any, database: str, table: str) -> set[str]:
    return {name for (name,) in server.query("SELECT INDEX_NAME FROM information_schema.STATISTICS "
                                             f"WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{table}'")}
