"""The full copy's ChunkReader reads ahead of the writer, within bounds, and hands its errors over."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Sequence

import pytest

from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.connectors.sqlite.source import SqliteSource
from dtsctl.engine.tables.fullcopy import READ_AHEAD_CHUNKS, ChunkReader, read_ahead, read_inline
from dtsctl.engine.tables.interfaces import Column, EncodedRows, TableSchema

SCHEMA = TableSchema("db", "t", (Column("id", "int"),), ("id",))


class Table:
    """Chunks of two rows over ids 1..`rows`, counting the reads."""

    def __init__(self, rows: int) -> None:
        self.rows, self.reads = rows, 0

    def read(self, after_key: Sequence[Any] | None) -> list[dict[str, Any]]:
        self.reads += 1
        start = after_key[0] + 1 if after_key else 1
        return [{"id": i} for i in range(start, min(start + 2, self.rows + 1))]


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_reads_ahead_of_the_writer_up_to_the_queue_bound() -> None:
    table = Table(rows=100)
    reader = ChunkReader(table.read, SCHEMA, None)
    reader.start()
    try:
        # nothing consumed yet: the queue holds READ_AHEAD_CHUNKS and one more read waits to be put
        wait_until(lambda: table.reads == READ_AHEAD_CHUNKS + 1)
        time.sleep(0.2)
        assert table.reads == READ_AHEAD_CHUNKS + 1
        assert reader.next(threading.Event()) == [{"id": 1}, {"id": 2}]
        assert reader.next(threading.Event()) == [{"id": 3}, {"id": 4}]
    finally:
        reader.stop()
        reader.join(timeout=5)
    assert not reader.is_alive()


def test_chunks_continue_after_the_resumed_key_and_end_with_an_empty_one() -> None:
    reader = ChunkReader(Table(rows=5).read, SCHEMA, [2])
    reader.start()
    chunks = [reader.next(threading.Event()) for _ in range(3)]
    reader.join(timeout=5)
    assert chunks == [[{"id": 3}, {"id": 4}], [{"id": 5}], []]
    assert not reader.is_alive()


def test_encoded_chunks_continue_after_their_decoded_last_key() -> None:
    seen: list[Any] = []

    def read(after_key: Sequence[Any] | None) -> EncodedRows:
        seen.append(after_key)
        return EncodedRows("mysql", ("(1)",) if after_key is None else (), (7,), 1 if after_key is None else 0)

    reader = ChunkReader(read, SCHEMA, None)
    reader.start()
    reader.next(threading.Event())
    reader.next(threading.Event())
    reader.join(timeout=5)
    assert seen == [None, [7]]


def test_a_read_error_is_raised_in_the_writer() -> None:
    def read(after_key: Sequence[Any] | None) -> list[dict[str, Any]]:
        raise ConnectionError("source went away")

    reader = ChunkReader(read, SCHEMA, None)
    reader.start()
    with pytest.raises(ConnectionError, match="source went away"):
        reader.next(threading.Event())
    reader.join(timeout=5)


def test_stop_ends_the_wait_and_the_reader() -> None:
    stop = threading.Event()
    reader = ChunkReader(lambda after_key: time.sleep(0.05) or [{"id": 1}], SCHEMA, None)
    reader.start()
    stop.set()
    assert reader.next(stop) is None
    reader.stop()
    reader.join(timeout=5)
    assert not reader.is_alive()


@pytest.mark.parametrize("reading", [read_ahead, read_inline])
def test_both_ways_of_reading_give_the_chunks_in_key_order_then_the_empty_one(reading: Any) -> None:
    with contextlib.closing(reading(Table(rows=5).read, SCHEMA, None, threading.Event())) as chunks:
        assert list(chunks) == [[{"id": 1}, {"id": 2}], [{"id": 3}, {"id": 4}], [{"id": 5}], []]


def test_reading_inline_uses_no_thread_and_stops_when_asked() -> None:
    stop = threading.Event()
    threads = threading.active_count()
    chunks = read_inline(Table(rows=100).read, SCHEMA, None, stop)
    assert next(chunks) == [{"id": 1}, {"id": 2}]
    assert threading.active_count() == threads
    stop.set()
    assert list(chunks) == []


def test_in_process_sources_read_inline() -> None:
    assert SqliteSource.reads_ahead is False and MysqlSource.reads_ahead is True
