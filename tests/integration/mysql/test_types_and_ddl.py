"""Every MariaDB column type round-trips exactly; DDL replicates forward during incremental."""

from __future__ import annotations

from tests.integration.mysql.conftest import endpoint, selection, table_rows, wait_equal
from tests.integration.sqlite.conftest import wait_for

TYPES = """(
  id INT UNSIGNED NOT NULL PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  de DECIMAL(65,30), dm DECIMAL(10,2) UNSIGNED, f FLOAT, db DOUBLE,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), tn TIME, y YEAR,
  c CHAR(5), v VARCHAR(40), tx TEXT, lt LONGTEXT,
  bn BINARY(4), vb VARBINARY(10), bl BLOB,
  e ENUM('a','b c','é'), st SET('x','y','z'), j JSON, bt BIT(10), b1 BIT(1), b64 BIT(64)
) DEFAULT CHARSET=utf8mb4"""

FULL = ("(%s, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, "
        "18446744073709551615, '-12345678901234567890123456789012345.123456789012345678901234567890', 99999999.99, "
        "1.1, 0.30000000000000004, '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', "
        "'-838:59:59.000000', '-00:00:01', 1901, 'ab', 'héllo 😀 wörld', 'text 😀', REPEAT('long ', 1000), "
        "x'0100', x'00ff00', x'000102fffe00', 'é', 'x,z', '{\"a\": [1, 2.5, \"😀\"], \"b\": null}', "
        "b'1010101010', b'1', b'1111111111111111111111111111111111111111111111111111111111111111')")


def _insert(server, database, key):
    server.execute(f"INSERT INTO `{database}`.types VALUES {FULL}", key)


def test_every_type_round_trips_in_full_copy_and_in_binlog(pair):
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.types {TYPES}")
    _insert(pair.source, pair.source_db, 1)
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id) VALUES (2)")  # NULL in every column
    task = pair.task()
    task.apply()
    task.wait_incremental()
    _insert(pair.source, pair.source_db, 3)
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id) VALUES (4)")
    pair.source.execute(f"UPDATE `{pair.source_db}`.types SET v = 'x', bt = b'1', st = 'y', tn = '-12:30:01.5' "
                        "WHERE id = 1")
    pair.source.execute(f"UPDATE `{pair.source_db}`.types SET id = 5 WHERE id = 3")
    pair.source.execute(f"UPDATE `{pair.source_db}`.types SET st = '', bn = x'00000000' WHERE id = 5")  # empty SET
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "types")
    rows = table_rows(pair.destination, pair.dest_db, "types")
    assert [row[0] for row in rows] == [1, 2, 4, 5]
    assert all(value is None for value in rows[1][1:])
    assert rows[3][11] == rows[0][11]  # DECIMAL(65,30) at full precision, from the binlog too


def test_ddl_during_incremental_replicates_and_updates_the_column_map(pair):
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(10))")
    pair.source.execute(f"CREATE TABLE `{db}`.skipped (id INT PRIMARY KEY)")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'a')")
    task = pair.task([selection(db, all=True, rename=pair.dest_db, ddl=True),])
    task.apply()
    task.wait_incremental()
    pair.source.execute(f"ALTER TABLE `{db}`.orders ADD COLUMN amount DECIMAL(8,2) NOT NULL DEFAULT 1.5, "
                        "ADD INDEX by_note (note)")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (2, 'b', 7.25)")
    pair.source.execute(f"CREATE TABLE `{db}`.fresh (k VARCHAR(5) NOT NULL PRIMARY KEY, v INT)")
    pair.source.execute(f"INSERT INTO `{db}`.fresh VALUES ('x', 1), ('y', 2)")
    pair.source.execute(f"RENAME TABLE `{db}`.fresh TO `{db}`.renamed")
    pair.source.execute(f"UPDATE `{db}`.renamed SET v = 3 WHERE k = 'y'")
    pair.source.execute(f"TRUNCATE TABLE `{db}`.skipped")
    pair.source.execute(f"DROP TABLE `{db}`.skipped")
    wait_equal(pair.source, db, pair.destination, pair.dest_db, "orders")
    wait_equal(pair.source, db, pair.destination, pair.dest_db, "renamed", order="k")
    wait_for(lambda: pair.destination.query("SELECT TABLE_NAME FROM information_schema.TABLES "
                                            "WHERE TABLE_SCHEMA = %s ORDER BY 1", pair.dest_db)
             == [("orders",), ("renamed",)], what="the TRUNCATE and DROP of `skipped`")
    assert "by_note" in pair.destination.query(f"SHOW CREATE TABLE `{pair.dest_db}`.orders")[0][1]
    task.wait_status(lambda s: set(s["tables"]) == {f"{db}.orders", f"{db}.renamed"})
    task.stop()  # a restart after DDL resumes cleanly
    pair.source.execute(f"INSERT INTO `{db}`.renamed VALUES ('z', 9)")
    task.start()
    wait_equal(pair.source, db, pair.destination, pair.dest_db, "renamed", order="k")


def test_a_table_created_and_renamed_before_the_reader_reads_it_keeps_its_key(pair):
    """The online schema change shape (create a copy, fill it, change it, swap the names, drop the
    old table) read by a reader that lags behind it: when it reads the CREATE, the table is gone
    from the source, and the key its changes need comes from the destination that replayed it.
    The destination user lacks BINLOG REPLAY, so the changes go as SQL statements, by key."""
    user = f"sqlonly{pair.source_db[-8:]}"
    pair.destination.create_user(user, "pw")
    pair.destination.execute(f"REVOKE SUPER, BINLOG REPLAY ON *.* FROM `{user}`@'%'")
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(10))")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    task = pair.task([selection(db, all=True, rename=pair.dest_db)],
                     destination_endpoint=endpoint(pair.destination, user, "pw"))
    try:
        task.apply()
        task.wait_incremental()
        task.stop()
        conn = pair.source.root_connect(database=db, autocommit=True)
        with conn, conn.cursor() as cursor:
            for statement in ("CREATE TABLE _orders_new (id INT PRIMARY KEY, note VARCHAR(10), extra INT NOT NULL DEFAULT 0)",
                              "INSERT INTO _orders_new (id, note) SELECT id, note FROM orders",
                              "UPDATE _orders_new SET note = 'changed' WHERE id = 1",
                              "DELETE FROM _orders_new WHERE id = 2",
                              "RENAME TABLE orders TO _orders_old, _orders_new TO orders",
                              "DROP TABLE _orders_old"):
                cursor.execute(statement)
        task.start()
        wait_equal(pair.source, db, pair.destination, pair.dest_db, "orders")
        assert table_rows(pair.destination, pair.dest_db, "orders") == [(1, "changed", 0), (3, "c", 0)]
        assert task.wait_status(lambda s: s["lag_seconds"] == 0).get("last_error") is None
    finally:
        pair.destination.drop_user(user)


def test_ddl_false_and_dml_subset_are_honoured(pair):
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(10))")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (1, 'a'), (2, 'b')")
    task = pair.task([selection(db, tables=["orders"], rename=pair.dest_db, ddl=False, dml=["insert", "update"])])
    task.apply()
    task.wait_incremental()
    pair.source.execute(f"ALTER TABLE `{db}`.orders ADD INDEX by_note (note)")
    pair.source.execute(f"DELETE FROM `{db}`.orders WHERE id = 1")
    pair.source.execute(f"INSERT INTO `{db}`.orders VALUES (3, 'c')")
    task.wait_status(lambda s: s["events_applied"] >= 1 and s["lag_seconds"] == 0)
    assert table_rows(pair.destination, pair.dest_db, "orders") == [(1, "a"), (2, "b"), (3, "c")]
    assert "by_note" not in pair.destination.query(f"SHOW CREATE TABLE `{pair.dest_db}`.orders")[0][1]
