"""A source that purged the binlog a paused task must resume from: the task fails saying so (the
default), or with `on_position_lost: reseed` empties its tables, copies them again and streams
on, ending equal to the source (rows deleted meanwhile included)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.agent_process import wait_for
from tests.integration.mysql.conftest import (Pair, attributes, create_orders, endpoint, selection, table_rows,
                                              wait_equal)


def _changes_while_paused(pair: Pair) -> None:
    """Inserts, updates and deletes, then every binlog holding them purged."""
    conn = pair.source.root_connect(database=pair.source_db, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO orders (id, amount, note) VALUES (%s, 1, 'while paused')",
                               [(i,) for i in range(10_001, 10_201)])
            cursor.execute("UPDATE orders SET note = 'updated while paused' WHERE id <= 50")
            cursor.execute("DELETE FROM orders WHERE id BETWEEN 100 AND 149")
            cursor.execute("FLUSH BINARY LOGS")
            cursor.execute("SHOW BINARY LOGS")
            newest = cursor.fetchall()[-1][0]

            def purged() -> bool:  # a binlog still read by a dump thread (the stopped task's, ending) is kept
                cursor.execute(f"PURGE BINARY LOGS TO '{newest}'")
                cursor.execute("SHOW BINARY LOGS")
                return [row[0] for row in cursor.fetchall()] == [newest]

            wait_for(purged, what="every binlog but the newest purged")
    finally:
        conn.close()


def _ids_and_notes(rows: list[tuple]) -> list[tuple]:
    return [(int(row[0]), row[-1]) for row in rows]


@pytest.mark.parametrize("destination_engine", ["mariadb", "sqlite"])
def test_a_purged_binlog_fails_the_task_clearly_then_reseeds_once_declared(destination_engine, mariadb_factory,
                                                                            mariadb_pair, fresh_database, tmp_path):
    source = mariadb_factory()
    pair = Pair(source, mariadb_pair[1], fresh_database(source), "", tmp_path)
    pair.dest_db = f"{pair.source_db}_copy"
    create_orders(source, pair.source_db, 500)
    task = pair.task()
    lake = tmp_path / "lake.db"
    if destination_engine == "sqlite":
        task.attributes = attributes(endpoint(source), {"engine": "sqlite", "path": str(lake)},
                                     [selection(pair.source_db, all=True, rename="main")])

    def copied() -> list[tuple]:
        """(id, note) of every destination row, in id order."""
        if destination_engine == "mariadb":
            return _ids_and_notes(table_rows(pair.destination, pair.dest_db, "orders"))
        with closing(sqlite3.connect(lake)) as conn:
            return _ids_and_notes(conn.execute("SELECT id, note FROM orders ORDER BY id").fetchall())

    def equal() -> bool:
        return copied() == _ids_and_notes(table_rows(source, pair.source_db, "orders"))

    try:
        task.apply()
        task.wait_incremental()
        source.execute(f"INSERT INTO `{pair.source_db}`.orders (id, amount, note) VALUES (10000, 1, 'streamed')")
        wait_for(equal, what="the stream applied")
        assert task.stop() == 0  # paused
        _changes_while_paused(pair)
        before = copied()

        task.start()
        assert task.process is not None and task.process.wait(timeout=60) == EXIT_FATAL
        error = task.status()["last_error"]
        assert "the source no longer has the binlog to resume from" in error, error
        assert "on_position_lost: reseed" in error, error
        assert copied() == before, "nothing applied or emptied"

        task.attributes["on_position_lost"] = "reseed"  # what `apply` does with the declaration changed
        task.write_config()
        task.start()
        task.wait_incremental()
        source.execute(f"DELETE FROM `{pair.source_db}`.orders WHERE id = 1")  # streamed again after the copy
        wait_for(equal, what="the destination equal to the source (rows deleted while paused gone too)")
        if destination_engine == "mariadb":
            wait_equal(source, pair.source_db, pair.destination, pair.dest_db, "orders")  # every column
        assert "copying everything again (on_position_lost: reseed)" in task.log.read_text()
        assert task.status()["state"] == "running"
    finally:
        if task.process is not None and task.process.poll() is None:
            task.process.kill()
            task.process.wait()
