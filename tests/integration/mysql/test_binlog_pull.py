"""The binlog stream read on the caller's thread (dtsctl.connectors.mysql.binlog.BinlogStream.pull,
through MysqlSource.read_changes): what the source has already sent comes in one batch, an idle
source returns control within a heartbeat, and a dump connection the server kills loses and
repeats nothing."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from dtsctl.connectors.mysql.binlog import HEARTBEAT_SECONDS
from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.engine.events import Transaction
from tests.integration.mysql.conftest import endpoint


def _source(server: Any, db: str) -> MysqlSource:
    source = MysqlSource(endpoint(server), f"task.pull-{db}")
    source.restrict(lambda database, table: database == db, frozenset({db}))
    return source


def _write(server: Any, db: str, first: int, count: int) -> None:
    connection = server.root_connect(autocommit=True)
    with connection.cursor() as cursor:
        for number in range(first, first + count):
            cursor.execute(f"INSERT INTO `{db}`.t VALUES ({number})")
    connection.close()


def _ids(transactions: list[Transaction]) -> list[int]:
    return [change.after["id"] for tx in transactions for change in tx.events]


def _read(source: MysqlSource, position: Any, count: int) -> tuple[list[Transaction], Any]:
    """Read until `count` row changes came (or 20 s passed)."""
    read: list[Transaction] = []
    deadline = time.monotonic() + 20
    while _changes(read) < count and time.monotonic() < deadline:
        transactions = source.read_changes(position, 2000, 0.05)
        if transactions:
            position = transactions[-1].position
            read += transactions
    return read, position


@pytest.fixture
def stream(mariadb_source: Any, fresh_database: Any) -> Iterator[tuple[Any, str, MysqlSource]]:
    """A server, a fresh database with a table `t (id INT PRIMARY KEY)`, and a source restricted to it."""
    server, db = mariadb_source, fresh_database(mariadb_source)
    server.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    source = _source(server, db)
    yield server, db, source
    source.close()


def _changes(transactions: list[Transaction]) -> int:
    return sum(tx.change_count() for tx in transactions)


def test_a_pull_hands_over_every_transaction_already_received_in_one_batch(stream):
    server, db, source = stream
    start = source.current_position()
    assert _changes(source.read_changes(start, 2000, 0.05)) == 0  # connected, nothing to read
    _write(server, db, 0, 300)
    time.sleep(0.3)  # the writes reach the connection
    assert _ids(source.read_changes(start, 2000, 0.05)) == list(range(300)), "in one call"
    capped = _source(server, db)
    try:
        batch: list[Transaction] = []
        while not _changes(batch):  # (the first call may only connect)
            batch = capped.read_changes(start, 100, 0.05)
        assert _ids(batch) == list(range(100)), "no more than asked for"
    finally:
        capped.close()


def test_a_pull_on_an_idle_source_returns_within_a_heartbeat(stream):
    _, _, source = stream
    position = source.current_position()
    source.read_changes(position, 2000, 0.05)  # connects
    for _ in range(3):
        began = time.monotonic()
        assert _changes(source.read_changes(position, 2000, 0.05)) == 0
        assert time.monotonic() - began < HEARTBEAT_SECONDS + 1.0


def test_a_dump_connection_killed_by_the_server_loses_and_repeats_nothing(stream):
    server, db, source = stream
    position = source.current_position()
    _write(server, db, 0, 100)
    read, position = _read(source, position, 100)
    dumps = server.query("SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")
    assert dumps, "the stream's dump connection is open"
    for (thread,) in dumps:
        server.execute(f"KILL {thread}")
    _write(server, db, 100, 100)
    more, _ = _read(source, position, 100)
    assert _ids(read + more) == list(range(200))
