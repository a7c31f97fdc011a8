"""Schema and full-copy phases: create destination tables, copy rows chunked by key.

Each chunk is upserted together with the checkpoint recording the last key of the
committed chunks before it, so a crash resumes after them and re-copied rows are
idempotent. The copy is a stream: a `ChunkReader` thread reads the next chunks (into
a short queue) while the current ones are written on each of the sink's connections
(`chunk_writers`), unless the source's reads run in-process (`Source.reads_ahead`).
When source and sink are of the same engine, chunks travel encoded (`EncodedRows`),
never decoded in between.
Under conflict policy `ignore` rows already on the destination are kept, as DTS
does: in a two-way pair they may be newer than the snapshot being copied.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from typing import Any, Callable, Iterator, Sequence

from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.events import Row, format_key
from dtsctl.engine.tables.chunk_writers import ChunkWriters, CommittedChunks
from dtsctl.engine.tables.interfaces import EncodedRows, Sink, Source, TableSchema
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables.selection import TablePlan
from dtsctl.engine.throttle import Throttle
from dtsctl.engine.worker import Worker

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000
READ_AHEAD_CHUNKS = 2  # chunks read but not yet written: bounds the copy's memory

Chunk = Sequence[Row] | EncodedRows


def create_tables(sink: Sink, plans: list[TablePlan], schemas: dict[str, TableSchema], cp: Checkpoint,
                  progress: Progress, copying: bool) -> None:
    """Create the destination tables; when their rows are copied next (`copying`), a table
    dtsctl creates gets its deferrable indexes only after its copy (`finish_copy`)."""
    for plan in plans:
        table = cp.tables[plan.name]
        if table.schema_done:
            continue
        if table.deferred_indexes is None:  # decided once, and stored before the table exists
            exists = sink.table_exists(plan.dest_database, plan.dest_table)
            table.deferred_indexes = sink.deferrable_indexes(schemas[plan.name]) if copying and not exists else []
            sink.save_checkpoint(cp.to_json())
        sink.create_table(schemas[plan.name], plan.dest_database, plan.dest_table, table.deferred_indexes)
        table.schema_done = True
        sink.save_checkpoint(cp.to_json())
        progress.committed(cp)
        log.info("created %s for %s", plan.dest_name, plan.name)


def copy_table(source: Source, sinks: Sequence[Sink], plan: TablePlan, schema: TableSchema, cp: Checkpoint,
               throttle: Throttle, progress: Progress, stop: threading.Event, incremental: bool,
               keep_existing: bool = False) -> bool:
    """Copy one table from where its checkpoint left off, writing on all of `sinks` at once
    (`chunk_writers`). False when stopped before the end."""
    sink = sinks[0]
    table: TableProgress = cp.tables[plan.name]
    if table.last_key is None and table.rows_copied == 0:
        table.rows_estimated = source.estimate_rows(plan.source_database, plan.source_table)
    log.info("copying %s to %s%s", plan.name, plan.dest_name,
             f" after key {format_key(dict(zip(schema.key, table.last_key)))}" if table.last_key else "")

    def advanced(checkpoint: Checkpoint) -> None:
        progress.committed(checkpoint)
        if not incremental and table.last_key is not None:  # otherwise the checkpoint shown is the stream position
            key = format_key(dict(zip(schema.key, table.last_key)))
            progress.reader_advanced(f"full copy of {plan.name} after key {key}", None)

    committed = CommittedChunks(cp, plan.name, advanced)

    def write(writer: Sink, numbered: tuple[int, Chunk]) -> None:
        number, chunk = numbered
        checkpoint = committed.checkpoint_with(number)
        if isinstance(chunk, EncodedRows):
            writer.write_encoded_rows(schema, plan.dest_database, plan.dest_table, chunk, checkpoint, keep_existing)
        else:
            writer.write_rows(schema, plan.dest_database, plan.dest_table, chunk, checkpoint, keep_existing)
        committed.committed(number)

    read = chunk_source(source, sink, schema, plan.filter, keep_existing)
    reading = read_ahead if source.reads_ahead else read_inline
    with contextlib.closing(reading(read, schema, table.last_key, stop)) as chunks, \
            contextlib.closing(ChunkWriters(sinks, write)) as writers:
        for chunk in chunks:
            if not _count(chunk):
                writers.drain()
                finish_copy(source, sink, plan, table, incremental)
                sink.save_checkpoint(cp.to_json())
                progress.committed(cp)
                log.info("copied %s: %d rows", plan.name, table.rows_copied)
                return True
            if throttle.limited:
                throttle.wait(_count(chunk), _size(chunk) if throttle.bytes.rate else 0)
            writers.submit((committed.handed_out(last_key(chunk, schema), _count(chunk)), chunk))
        writers.drain()
    return False


def finish_copy(source: Source, sink: Sink, plan: TablePlan, table: TableProgress, incremental: bool) -> None:
    """Build the indexes deferred until the rows were in (again after a crash: it is harmless),
    then mark the table copied."""
    if table.deferred_indexes:
        log.info("building %d deferred index(es) of %s", len(table.deferred_indexes), plan.dest_name)
        sink.build_indexes(plan.dest_database, plan.dest_table, table.deferred_indexes)
        table.deferred_indexes = []
    # Every change at or before this position may be reflected in what was copied.
    table.copy_end = list(source.position_order(source.current_position())) if incremental else None
    table.copy_done = True


def read_ahead(read: Callable[[Sequence[Any] | None], Chunk], schema: TableSchema, after_key: Sequence[Any] | None,
               stop: threading.Event) -> Iterator[Chunk]:
    """The table's chunks from a `ChunkReader` thread, until the empty last one or `stop`."""
    reader = ChunkReader(read, schema, after_key)
    reader.start()
    try:
        while (chunk := reader.next(stop)) is not None:
            yield chunk
            if not _count(chunk):
                return
    finally:
        reader.stop()
        reader.join()


def read_inline(read: Callable[[Sequence[Any] | None], Chunk], schema: TableSchema, after_key: Sequence[Any] | None,
                stop: threading.Event) -> Iterator[Chunk]:
    """The table's chunks read on the writer's own thread, until the empty last one or `stop`."""
    while not stop.is_set():
        chunk = read(after_key)
        yield chunk
        if not _count(chunk):
            return
        after_key = last_key(chunk, schema)


def chunk_source(source: Source, sink: Sink, schema: TableSchema, where: str | None,
                 keep_existing: bool) -> Callable[[Sequence[Any] | None], Chunk]:
    """How the table's chunks are read: encoded for the sink when the source can encode them
    in its dialect (chunk by chunk: a source may decline some), decoded rows otherwise."""
    dialect = sink.encoded_dialect(keep_existing)

    def read(after_key: Sequence[Any] | None) -> Chunk:
        if dialect is not None:
            encoded = source.read_encoded_chunk(schema, after_key, CHUNK_ROWS, where, dialect)
            if encoded is not None:
                return encoded
        return source.read_chunk(schema, after_key, CHUNK_ROWS, where)

    return read


def last_key(chunk: Chunk, schema: TableSchema) -> list[Any]:
    if isinstance(chunk, EncodedRows):
        return list(chunk.last_key)
    return [chunk[-1][name] for name in schema.key]


def _count(chunk: Chunk) -> int:
    return chunk.count if isinstance(chunk, EncodedRows) else len(chunk)


def _size(chunk: Chunk) -> int:
    return chunk.size if isinstance(chunk, EncodedRows) else len(json.dumps(chunk, default=str))


class ChunkReader(Worker):
    """Reads a table's chunks ahead of the writer, into a short queue, so that reading the
    next chunk overlaps writing this one. The last chunk is empty; a read error is handed
    to the writer, which raises it."""

    def __init__(self, read: Callable[[Sequence[Any] | None], Chunk], schema: TableSchema,
                 after_key: Sequence[Any] | None) -> None:
        super().__init__("chunk-reader")
        self._read, self._schema, self._after_key = read, schema, after_key
        self._chunks: queue.Queue[Chunk | BaseException] = queue.Queue(maxsize=READ_AHEAD_CHUNKS)

    def run(self) -> None:
        after_key = self._after_key
        try:
            while not self._halt.is_set():
                chunk = self._read(after_key)
                if not self._put(chunk) or not _count(chunk):
                    return
                after_key = last_key(chunk, self._schema)
        except BaseException as exc:  # handed to the writer's thread, raised there
            self._put(exc)

    def _put(self, item: Chunk | BaseException) -> bool:
        while not self._halt.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next(self, stop: threading.Event) -> Chunk | None:
        """The next chunk in key order; None when `stop` is set first."""
        while not stop.is_set():
            try:
                item = self._chunks.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            return item
        return None
