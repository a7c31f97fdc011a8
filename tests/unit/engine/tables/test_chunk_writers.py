"""Chunk writers: the checkpoint written with a chunk claims only the contiguous committed
prefix, several writers each write one chunk at a time, and a writer's error reaches the copy."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.tables.chunk_writers import ChunkWriters, CommittedChunks

TABLE = "db.t"


def checkpoint() -> Checkpoint:
    return Checkpoint(rows_copied=10, tables={TABLE: TableProgress(last_key=[10], rows_copied=10)})


def claimed(data: dict[str, Any]) -> tuple[Any, int, int]:
    table = data["tables"][TABLE]
    return table["last_key"], table["rows_copied"], data["rows_copied"]


def test_a_chunk_committed_out_of_order_is_claimed_only_once_the_gap_before_it_is_committed() -> None:
    cp, advances = checkpoint(), []
    chunks = CommittedChunks(cp, TABLE, lambda c: advances.append(c.tables[TABLE].last_key))
    first, second, third = (chunks.handed_out([key], 5) for key in (15, 20, 25))
    assert claimed(chunks.checkpoint_with(second)) == ([10], 10, 10)  # the first is not committed yet
    chunks.committed(second)
    assert cp.tables[TABLE].last_key == [10] and advances == []
    assert claimed(chunks.checkpoint_with(first)) == ([20], 20, 20)  # the first closes the gap
    chunks.committed(first)
    assert cp.tables[TABLE].last_key == [20] and cp.tables[TABLE].rows_copied == 20 and cp.rows_copied == 20
    assert advances == [[20]]
    assert claimed(chunks.checkpoint_with(third)) == ([25], 25, 25)


def test_the_checkpoint_of_a_chunk_in_order_claims_that_chunk() -> None:
    chunks = CommittedChunks(checkpoint(), TABLE, lambda c: None)
    number = chunks.handed_out([15], 5)
    assert claimed(chunks.checkpoint_with(number)) == ([15], 15, 15)


class Sink:
    def __init__(self, name: str) -> None:
        self.name = name


def test_with_one_sink_chunks_are_written_on_the_callers_thread() -> None:
    threads: list[threading.Thread] = []
    writers = ChunkWriters([Sink("a")], lambda sink, chunk: threads.append(threading.current_thread()))
    writers.submit(1)
    writers.drain()
    writers.close()
    assert threads == [threading.current_thread()]


def test_each_sink_writes_one_chunk_at_a_time_and_all_are_written_by_drain() -> None:
    writing: dict[str, int] = {}
    most: dict[str, int] = {}
    written: list[int] = []
    lock = threading.Lock()
    both_busy = threading.Barrier(2, timeout=5)

    def write(sink: Sink, chunk: int) -> None:
        with lock:
            writing[sink.name] = writing.get(sink.name, 0) + 1
            most[sink.name] = max(most.get(sink.name, 0), writing[sink.name])
        if chunk < 2:
            both_busy.wait()  # the first two chunks are written at the same time
        with lock:
            writing[sink.name] -= 1
            written.append(chunk)

    writers = ChunkWriters([Sink("a"), Sink("b")], write)
    for chunk in range(20):
        writers.submit(chunk)
    writers.drain()
    writers.close()
    assert sorted(written) == list(range(20))
    assert most == {"a": 1, "b": 1}


def test_a_failed_write_is_raised_by_drain_and_stops_later_submits() -> None:
    def write(sink: Sink, chunk: int) -> None:
        if chunk == 1:
            raise ConnectionError("destination went away")

    writers = ChunkWriters([Sink("a"), Sink("b")], write)
    writers.submit(0)
    writers.submit(1)
    with pytest.raises(ConnectionError, match="destination went away"):
        writers.drain()
    with pytest.raises(ConnectionError, match="destination went away"):
        for chunk in range(2, 10):
            writers.submit(chunk)
    writers.close()
