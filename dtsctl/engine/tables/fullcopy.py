"""Schema and full-copy phases: create destination tables, copy rows chunked by key.

Each chunk is upserted together with the checkpoint recording its last key, so a
crash resumes after the last committed chunk and re-copied rows are idempotent.
Under conflict policy `ignore` rows already on the destination are kept, as DTS
does: in a two-way pair they may be newer than the snapshot being copied.
"""

from __future__ import annotations

import json
import logging
import threading

from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.events import format_key
from dtsctl.engine.tables.interfaces import Sink, Source, TableSchema
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables.selection import TablePlan
from dtsctl.engine.throttle import Throttle

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000


def create_tables(sink: Sink, plans: list[TablePlan], schemas: dict[str, TableSchema], cp: Checkpoint,
                  progress: Progress) -> None:
    for plan in plans:
        table = cp.tables[plan.name]
        if table.schema_done:
            continue
        sink.create_table(schemas[plan.name], plan.dest_database, plan.dest_table)
        table.schema_done = True
        sink.save_checkpoint(cp.to_json())
        progress.committed(cp)
        log.info("created %s for %s", plan.dest_name, plan.name)


def copy_table(source: Source, sink: Sink, plan: TablePlan, schema: TableSchema, cp: Checkpoint,
               throttle: Throttle, progress: Progress, stop: threading.Event, incremental: bool,
               keep_existing: bool = False) -> bool:
    """Copy one table from where its checkpoint left off. False when stopped before the end."""
    table: TableProgress = cp.tables[plan.name]
    if table.last_key is None and table.rows_copied == 0:
        table.rows_estimated = source.estimate_rows(plan.source_database, plan.source_table)
    log.info("copying %s to %s%s", plan.name, plan.dest_name,
             f" after key {format_key(dict(zip(schema.key, table.last_key)))}" if table.last_key else "")
    while not stop.is_set():
        rows = source.read_chunk(schema, table.last_key, CHUNK_ROWS, plan.filter)
        if not rows:
            # Every change at or before this position may be reflected in what was copied.
            table.copy_end = list(source.position_order(source.current_position())) if incremental else None
            table.copy_done = True
            sink.save_checkpoint(cp.to_json())
            progress.committed(cp)
            log.info("copied %s: %d rows", plan.name, table.rows_copied)
            return True
        if throttle.limited:
            throttle.wait(len(rows), len(json.dumps(rows, default=str)) if throttle.bytes.rate else 0)
        table.last_key = [rows[-1][name] for name in schema.key]
        table.rows_copied += len(rows)
        cp.rows_copied += len(rows)
        sink.write_rows(schema, plan.dest_database, plan.dest_table, rows, cp.to_json(), keep_existing)
        progress.committed(cp)
        if not incremental:  # otherwise the checkpoint shown is the stream position
            key = format_key(dict(zip(schema.key, table.last_key)))
            progress.reader_advanced(f"full copy of {plan.name} after key {key}", None)
    return False
