"""Migrations, in-place `objects` changes, and MariaDB -> SQLite with type translation."""

from __future__ import annotations

import datetime
import sqlite3

import pymysql

from tests.integration.mysql.conftest import attributes, create_orders, endpoint, selection, table_rows, wait_equal
from tests.integration.sqlite.conftest import wait_for


def test_migration_of_schema_and_full_completes(pair):
    create_orders(pair.source, pair.source_db, 12_000)
    task = pair.task(type="migration", phases=["schema", "full"],
                     objects=[selection(pair.source_db, tables=["orders"], rename=pair.dest_db,
                                        filter={"orders": "amount > 100"})])
    task.apply()
    assert task.process.wait(timeout=60) == 0
    status = task.status()
    assert (status["state"], status["phase"]) == ("completed", "done")
    expected = [row for row in table_rows(pair.source, pair.source_db, "orders") if row[1] > 100]
    assert table_rows(pair.destination, pair.dest_db, "orders") == expected
    assert status["rows_copied"] == len(expected)


def test_table_added_in_place_is_copied_then_streamed(pair):
    create_orders(pair.source, pair.source_db, 500)
    create_orders(pair.source, pair.source_db, 300, table="items")
    task = pair.task([selection(pair.source_db, tables=["orders"], rename=pair.dest_db)])
    task.apply()
    task.wait_incremental()
    task.stop()
    task.attributes["objects"][0]["tables"] = ["orders", "items"]
    task.attributes["objects"][0]["table_rename"] = {"items": "order_items"}
    task.attributes["objects"][0]["filter"] = {"items": "amount > 100"}
    task.apply()
    task.wait_incremental()
    pair.source.execute(f"UPDATE `{pair.source_db}`.items SET note = 'after add' WHERE id = 7")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.orders VALUES (777, 1, 'still streaming')")
    pair.source.execute(f"UPDATE `{pair.source_db}`.items SET amount = 1 WHERE id = 200")  # leaves the filter
    pair.source.execute(f"UPDATE `{pair.source_db}`.items SET amount = 9999 WHERE id = 3")  # enters it
    expected = [row for row in table_rows(pair.source, pair.source_db, "items") if row[1] > 100]

    def copied() -> bool:
        try:
            return table_rows(pair.destination, pair.dest_db, "order_items") == expected
        except pymysql.err.ProgrammingError:  # not created yet
            return False
    wait_for(copied, 30, "filtered items")
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    assert task.status()["rows_copied"] == 500 + 220  # orders was not copied again; items filtered


def test_mariadb_to_sqlite_translates_types(pair, tmp_path):
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.t (id BIGINT UNSIGNED PRIMARY KEY, d DECIMAL(30,10), "
                        "at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6), tm TIME, b VARBINARY(8), s SET('x','y'), "
                        "e ENUM('p','q'), j JSON, bt BIT(4), f DOUBLE, note VARCHAR(20) DEFAULT 'n/a')")
    row = ("(9223372036854775807, 12345678901234567890.0123456789, '2024-02-29 01:02:03.000004', '-01:02:03', "
           "x'00ff', 'x,y', 'q', '{\"k\": 1}', b'1010', 0.1, 'héllo 😀')")
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES {row}")
    path = tmp_path / "lake.db"
    task = pair.task()
    task.attributes = attributes(endpoint(pair.source), {"engine": "sqlite", "path": str(path)},
                                 [selection(db, all=True, rename="main")])
    task.apply()
    task.wait_incremental()
    pair.source.execute(f"INSERT INTO `{db}`.t (id, d, tm) VALUES (2, -0.5, '838:59:59')")
    pair.source.execute(f"UPDATE `{db}`.t SET note = 'changed' WHERE id = 9223372036854775807")

    def rows():
        with sqlite3.connect(path) as conn:
            return {row[0]: row[1:] for row in conn.execute("SELECT * FROM t")}
    wait_for(lambda: len(rows()) == 2 and rows()[9223372036854775807][-1] == "changed", 30, "sqlite to converge")
    copied = rows()
    assert copied[9223372036854775807] == (
        "12345678901234567890.0123456789", "2024-02-29 01:02:03.000004", "-01:02:03", b"\x00\xff", "x,y", "q",
        '{"k": 1}', 10, 0.1, "changed")
    assert copied[2][0] == "-0.5000000000" and copied[2][2] == "838:59:59" and copied[2][-1] == "n/a"
    assert datetime.datetime.fromisoformat(copied[2][1])  # the source's default, as ISO 8601
    log = task.log.read_text()
    assert "t.d: MySQL decimal(30,10) -> SQLite TEXT" in log
    assert "t.at: default current_timestamp(6) has no SQLite equivalent; dropped" in log
