"""A table's full-copy chunks written on several destination connections at once.

A destination server applies one connection's `LOAD DATA` on one core; two connections load
a table in about two thirds of the time (docs/benchmarks.md). Each chunk still commits in one
transaction with a checkpoint, but chunks may now commit out of key order, so a checkpoint may
only claim the *contiguous committed prefix*: `CommittedChunks` writes each chunk's checkpoint
as the prefix of the chunks known committed plus that chunk itself. It may claim less than
is committed (a chunk whose commit had not returned yet): a resume then copies those rows
again, which the copy's upsert makes harmless. It never claims a chunk that is not committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.tables.interfaces import Sink


@dataclasses.dataclass(frozen=True)
class _Chunk:
    last_key: list[Any]
    rows: int


class CommittedChunks:
    """The chunks of table `name` handed to writers, in key order, and which have committed;
    `checkpoint` (the task's) follows the contiguous committed prefix."""

    def __init__(self, checkpoint: Checkpoint, name: str, on_advance: Callable[[Checkpoint], None]) -> None:
        self._cp, self._name, self._on_advance = checkpoint, name, on_advance
        self._lock = threading.Lock()
        self._chunks: dict[int, _Chunk] = {}  # handed out, beyond the committed prefix
        self._done: set[int] = set()  # committed, beyond the committed prefix
        self._next = 0  # number of the next chunk handed out
        self._prefix = 0  # number of the first chunk not in the committed prefix

    def handed_out(self, last_key: Sequence[Any], rows: int) -> int:
        """Number the next chunk in key order (ending at `last_key`)."""
        with self._lock:
            number = self._next
            self._chunks[number] = _Chunk(list(last_key), rows)
            self._next += 1
            return number

    def checkpoint_with(self, number: int) -> dict[str, Any]:
        """The checkpoint to commit with chunk `number`: the committed prefix extended by the
        chunks committed since and this one, as far as they are contiguous."""
        with self._lock:
            data = self._cp.to_json()
            table, rows = self._cp.tables[self._name], 0
            last_key = table.last_key
            upto = self._prefix
            while upto in self._done or upto == number:
                last_key, rows = self._chunks[upto].last_key, rows + self._chunks[upto].rows
                upto += 1
            if rows:
                data["tables"][self._name] = dataclasses.replace(
                    table, last_key=last_key, rows_copied=table.rows_copied + rows).to_json()
                data["rows_copied"] += rows
            return data

    def committed(self, number: int) -> None:
        """Chunk `number` committed: advance the task's checkpoint over the prefix it completes."""
        with self._lock:
            self._done.add(number)
            table, advanced = self._cp.tables[self._name], False
            while self._prefix in self._done:
                chunk = self._chunks.pop(self._prefix)
                self._done.discard(self._prefix)
                table.last_key = chunk.last_key
                table.rows_copied += chunk.rows
                self._cp.rows_copied += chunk.rows
                self._prefix += 1
                advanced = True
            if advanced:
                self._on_advance(self._cp)


class ChunkWriters:
    """Writes chunks on `sinks`, each on a thread of its own and at most one chunk at a time;
    with a single sink, on the caller's thread. `write(sink, chunk)` does one chunk's
    transaction. A writer's error is raised by the next `submit` or by `drain`."""

    def __init__(self, sinks: Sequence[Sink], write: Callable[[Sink, Any], None]) -> None:
        self._write = write
        self._count = len(sinks)
        self._inline = sinks[0] if len(sinks) == 1 else None
        self._idle: queue.SimpleQueue[Sink] = queue.SimpleQueue()  # a sink is here while it writes nothing
        for sink in sinks:
            self._idle.put(sink)
        self._pool = ThreadPoolExecutor(len(sinks), "chunk-writer") if self._inline is None else None
        self._failure: BaseException | None = None  # the first failed write's error

    def submit(self, chunk: Any) -> None:
        """Write `chunk` once a writer is idle; raises the error of a write that failed."""
        if self._inline is not None:
            self._write(self._inline, chunk)
            return
        assert self._pool is not None
        sink = self._idle.get()
        self._raise_failure()
        self._pool.submit(self._write, sink, chunk).add_done_callback(lambda done: self._finished(done, sink))

    def _finished(self, future: Future[None], sink: Sink) -> None:
        if self._failure is None:
            self._failure = future.exception()
        self._idle.put(sink)  # after the failure is recorded: whoever takes the sink sees it

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def drain(self) -> None:
        """Wait for every chunk handed over to be written; raises the error of one that failed."""
        if self._pool is None:
            return
        idle = [self._idle.get() for _ in range(self._count)]  # every writer done
        for sink in idle:
            self._idle.put(sink)
        self._raise_failure()

    def close(self) -> None:
        """Wait for the writes under way (the sinks stay open: they are the caller's)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


@contextlib.contextmanager
def copy_writers(sink: Sink, fencing_token: int | None) -> Iterator[list[Sink]]:
    """`sink` and the `sink.copy_writers - 1` others the full copy writes on, fenced like
    `sink` in the cluster runtime; the others are closed on leaving."""
    others: list[Sink] = []
    try:
        for number in range(1, sink.copy_writers):
            other = sink.another(number)
            others.append(other)
            if fencing_token is not None:
                other.fence(fencing_token)
        yield [sink, *others]
    finally:
        for other in others:
            other.close()
