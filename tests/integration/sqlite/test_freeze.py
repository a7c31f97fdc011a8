"""The SQLite cutover freeze against a real file: refusing triggers on the captured tables only,
the reader still releasing capture rows while frozen, a write in flight drained (or named when it
stays open), and no trigger left by unfreeze or by the teardown of a cutover that died frozen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtsctl.connectors.sqlite.source import SqliteSource
from dtsctl.errors import DtsError
from tests.integration.sqlite.conftest import connect

TASK_ID = "3f2a9c1e-0000-4000-8000-000000000000"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[SqliteSource]:
    path = tmp_path / "shop.db"
    with connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")  # not selected
    opened = SqliteSource({"engine": "sqlite", "path": str(path)}, TASK_ID)
    schema = opened.table_schema("main", "items")
    assert schema is not None
    opened.install_capture([schema])
    yield opened
    opened.close()


def freeze_triggers(path: Path) -> list[str]:
    with connect(path) as conn:
        return [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%dtsctl-freeze%'")]


def test_freeze_refuses_the_applications_writes_and_lets_the_reader_release(source: SqliteSource) -> None:
    app = connect(Path(source.path))
    app.execute("INSERT INTO items VALUES (1, 'before')")
    source.freeze_writes(5)
    for statement in ("INSERT INTO items VALUES (2, 'x')", "UPDATE items SET label = 'x'", "DELETE FROM items"):
        with pytest.raises(sqlite3.IntegrityError, match=f"frozen by dtsctl cutover of {TASK_ID}: write to the new"):
            app.execute(statement)
    app.execute("INSERT INTO notes VALUES (1, 'a table the task does not select')")
    assert source.current_position() == 1
    source.release(source.current_position())  # the reader deletes what it read, frozen or not
    source.unfreeze_writes()
    app.execute("INSERT INTO items VALUES (2, 'after')")
    assert freeze_triggers(Path(source.path)) == []
    app.close()


def test_a_write_in_flight_is_drained_or_named_when_it_stays_open(source: SqliteSource) -> None:
    app = connect(Path(source.path))
    app.execute("BEGIN IMMEDIATE")
    app.execute("INSERT INTO items VALUES (1, 'in flight')")
    with pytest.raises(DtsError, match=r"a write transaction on the source file .*shop\.db stayed open 0\.2s; "
                                       r"end it \(commit or roll back\) and apply again"):
        source.freeze_writes(0.2)
    assert freeze_triggers(Path(source.path)) == []
    app.execute("COMMIT")
    source.freeze_writes(5)
    assert source.current_position() == 1  # the committed write is before the final position
    app.close()


def test_teardown_of_a_cutover_that_died_frozen_leaves_no_trigger(source: SqliteSource) -> None:
    source.freeze_writes(5)
    assert len(freeze_triggers(Path(source.path))) == 3
    source.remove_capture()
    assert freeze_triggers(Path(source.path)) == []
    with connect(Path(source.path)) as conn:
        conn.execute("INSERT INTO items VALUES (1, 'the application writes again')")
