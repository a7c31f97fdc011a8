"""The destination applies the source's own row events (BINLOG statements) when the task allows it,
and the SQL path otherwise, with the same result."""

from __future__ import annotations

import pytest

from tests.integration.mysql.conftest import endpoint, selection, table_rows, wait_equal
from tests.integration.mysql.test_types_and_ddl import TYPES, _insert
from tests.servers.mariadb import MariaDBServer


def _binlog_end(server: MariaDBServer) -> tuple[str, int]:
    file, pos = server.query_one("SHOW MASTER STATUS")[:2]
    return file, int(pos)


def _applied_as(server: MariaDBServer, start: tuple[str, int], database: str) -> set[str]:
    """How the destination wrote `database`'s rows since `start`: "sql" when a statement's text annotates
    them in its binlog, "row events" when not (the source's row events applied as they are, which
    the sink does not annotate: MariaDB would copy the whole BINLOG statement before each source
    statement in it)."""
    file, pos = start
    found = set()
    annotated = False
    for _, _, kind, _, _, info in server.query(f"SHOW BINLOG EVENTS IN '{file}' FROM {pos}"):
        if kind == "Annotate_rows":
            annotated = True
        elif kind == "Table_map" and f"({database}." in str(info):
            found.add("sql" if annotated else "row events")
        elif kind == "Xid":
            annotated = False
    return found


def _write_types(pair) -> None:
    db = pair.source_db
    _insert(pair.source, db, 3)
    pair.source.execute(f"INSERT INTO `{db}`.types (id) VALUES (4)")
    conn = pair.source.root_connect(database=db, autocommit=False)
    try:
        with conn.cursor() as cursor:  # one transaction of several statements
            cursor.execute("UPDATE types SET v = 'x', bt = b'1', st = 'y', tn = '-12:30:01.5', j = '[3]' WHERE id = 1")
            cursor.execute("UPDATE types SET id = 5 WHERE id = 3")
            cursor.execute("DELETE FROM types WHERE id = 2")
            cursor.execute("UPDATE types SET st = '', bn = x'00000000' WHERE id = 5")
        conn.commit()
    finally:
        conn.close()


def test_every_type_round_trips_through_the_source_row_events_under_a_renamed_database(pair):
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.types {TYPES}")
    _insert(pair.source, pair.source_db, 1)
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id) VALUES (2)")
    task = pair.task()
    task.apply()
    task.wait_incremental()
    start = _binlog_end(pair.destination)
    _write_types(pair)
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "types")
    assert [row[0] for row in table_rows(pair.destination, pair.dest_db, "types")] == [1, 4, 5]
    assert _applied_as(pair.destination, start, pair.dest_db) == {"row events"}
    status = task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] == 6)
    assert status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}


def _table_maps(server: MariaDBServer, start: tuple[str, int], database: str) -> int:
    file, pos = start
    return sum(1 for _, _, kind, _, _, info in server.query(f"SHOW BINLOG EVENTS IN '{file}' FROM {pos}")
               if kind == "Table_map" and f"({database}." in str(info))


def test_a_backlog_of_small_statements_arrives_as_few_statements_with_every_change(pair):
    """A batch's source statements are applied as one (dtsctl.connectors.mysql._rowstatement): the
    destination maps each table once per BINLOG statement instead of once per source statement,
    and every insert, update and delete of two interleaved tables lands, across a FLUSH TABLES that
    gives the source's tables new ids midway."""
    db = pair.source_db
    for table in ("a", "b"):
        pair.source.execute(f"CREATE TABLE `{db}`.{table} (id INT PRIMARY KEY, v VARCHAR(20), n INT)")
    task = pair.task()
    task.apply()
    task.wait_incremental()
    task.stop()  # the backlog below is read as a few large batches when the agent comes back
    start = _binlog_end(pair.destination)
    conn = pair.source.root_connect(database=db, autocommit=False)
    statements = 0
    try:
        with conn.cursor() as cursor:
            for i in range(120):
                cursor.execute("INSERT INTO a VALUES (%s, %s, 0)", (i, f"a{i}"))
                cursor.execute("INSERT INTO b VALUES (%s, %s, 0)", (i, f"b{i}"))
                cursor.execute("UPDATE a SET n = n + 1, v = %s WHERE id = %s", (f"u{i}", i // 2))
                cursor.execute("DELETE FROM b WHERE id = %s", (i // 3,))
                statements += 4
                if i % 10 == 9:
                    conn.commit()
                if i == 60:
                    conn.commit()
                    cursor.execute("FLUSH TABLES")
        conn.commit()
    finally:
        conn.close()
    task.start()
    for table in ("a", "b"):
        wait_equal(pair.source, db, pair.destination, pair.dest_db, table)
    # 240 inserts, 120 updates, 40 deletes (each b row is deleted once: the later ones find none)
    task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] == 400)
    assert _applied_as(pair.destination, start, pair.dest_db) == {"row events"}
    assert _table_maps(pair.destination, start, pair.dest_db) < statements // 10


def test_without_the_binlog_replay_privilege_changes_apply_as_sql_and_the_log_says_why(pair):
    user = f"nobinlog{pair.source_db[-8:]}"
    pair.destination.create_user(user, "pw")
    pair.destination.execute(f"REVOKE SUPER, BINLOG REPLAY ON *.* FROM `{user}`@'%'")
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.types {TYPES}")
    _insert(pair.source, pair.source_db, 1)
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.types (id) VALUES (2)")
    task = pair.task(destination_endpoint=endpoint(pair.destination, user, "pw"))
    try:
        task.apply()
        task.wait_incremental()
        start = _binlog_end(pair.destination)
        _write_types(pair)
        wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "types")
        assert _applied_as(pair.destination, start, pair.dest_db) == {"sql"}
        log = task.log.read_text()
        assert log.count("grant the destination user BINLOG REPLAY") == 1
        assert "pw" not in log.replace("password", "")
    finally:
        pair.destination.drop_user(user)


def test_a_destination_table_with_other_columns_takes_the_sql_path(pair):
    """Row events name columns by position: a destination table whose columns differ (here, one
    more) gets the changes as SQL statements, and the same rows."""
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10), b INT)")
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one', 1)")
    task = pair.task()
    task.apply()
    task.wait_incremental()
    pair.destination.execute(f"ALTER TABLE `{pair.dest_db}`.t ADD COLUMN extra INT DEFAULT 7")
    start = _binlog_end(pair.destination)
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES (2, 'two', 2)")
    pair.source.execute(f"UPDATE `{db}`.t SET a = 'uno' WHERE id = 1")
    task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] >= 2)
    assert table_rows(pair.destination, pair.dest_db, "t") == [(1, "uno", 1, 7), (2, "two", 2, 7)]
    assert _applied_as(pair.destination, start, pair.dest_db) == {"sql"}


def test_a_destination_table_with_a_trigger_takes_the_sql_path(pair):
    """Applied row events fire no triggers; the statements of the SQL path do."""
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    task = pair.task()
    task.apply()
    task.wait_incremental()
    pair.destination.execute(f"CREATE TABLE `{pair.dest_db}`.audit (id INT)")
    pair.destination.execute(f"CREATE TRIGGER `{pair.dest_db}`.t_audit AFTER INSERT ON `{pair.dest_db}`.t "
                             "FOR EACH ROW INSERT INTO audit VALUES (NEW.id)")
    start = _binlog_end(pair.destination)
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two')")
    task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] >= 2)
    assert table_rows(pair.destination, pair.dest_db, "audit") == [(1,), (2,)]
    assert _applied_as(pair.destination, start, pair.dest_db) == {"sql"}


@pytest.mark.parametrize("narrowed", [{"filter": {"t": "id > 1"}}, {"dml": ["insert", "update"]}],
                         ids=["a row filter", "a dml subset"])
def test_a_task_that_alters_changes_on_their_way_takes_the_sql_path(pair, narrowed):
    db = pair.source_db
    pair.source.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, a VARCHAR(10))")
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES (5, 'five')")
    task = pair.task([selection(db, all=True, rename=pair.dest_db, **narrowed)])
    task.apply()
    task.wait_incremental()
    start = _binlog_end(pair.destination)
    pair.source.execute(f"INSERT INTO `{db}`.t VALUES (1, 'one'), (2, 'two')")
    pair.source.execute(f"DELETE FROM `{db}`.t WHERE id = 5")
    task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] >= 2)
    expected = [(2, "two")] if "filter" in narrowed else [(1, "one"), (2, "two"), (5, "five")]
    assert table_rows(pair.destination, pair.dest_db, "t") == expected
    assert _applied_as(pair.destination, start, pair.dest_db) == {"sql"}
