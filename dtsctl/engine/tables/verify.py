"""verify for tables: chunks by key range, a checksum per chunk, rows only of chunks that differ.

Each chunk of source rows (in key order) is compared with the destination rows in the same
key range by a digest of both; only when the digests differ are rows compared, and the keys
that differ become suspects that `dtsctl.engine.verification.settle` decides once the applier
has passed the source position they were read at. With repair, each batch of differing keys
is read again at the source at a known position (`Source.read_keys_consistently`) and
appended to the task's change log as one repair transaction, ordered after every change
the reader appended before and before any it appends later, so the applier writes it in
order with the stream and it cannot overwrite a newer change.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import ChangeEvent, Position, Row, Transaction
from dtsctl.engine.tables.checksum import canonical
from dtsctl.engine.tables.interfaces import Sink, Source, TableSchema
from dtsctl.engine.tables.selection import TablePlan
from dtsctl.engine.verification import (ApplierWatch, Key, ObjectReport, Suspects, Value, VerifyProgress,
                                        append_repairs, check_repaired, compare, settle)
from dtsctl.errors import DtsError

CHUNK_ROWS = 2000
REPAIR_BATCH = 500  # keys per look-up and per repair transaction


class TableVerifier:
    """Compares (and with `repair`, corrects) the selected tables of one task."""

    def __init__(self, source: Source, sink: Sink, watch: ApplierWatch, progress: VerifyProgress) -> None:
        self._source = source
        self._sink = sink
        self._watch = watch
        self._progress = progress

    def verify(self, plan: TablePlan, schema: TableSchema) -> ObjectReport:
        report = ObjectReport(plan.name, plan.dest_name, schema.key)
        self._progress.object_started(plan.name, self._source.estimate_rows(plan.source_database, plan.source_table))
        if not self._sink.table_exists(plan.dest_database, plan.dest_table):
            report.destination_count = None
            report.source_count = self._source.checksum(schema, plan.filter)[0]
            return report
        suspects = self._scan(plan, schema, report)
        differences, report.changing = settle(suspects, lambda keys: self._read_source(plan, schema, keys),
                                              lambda keys: self._read_destination(plan, schema, keys), self._watch)
        report.record(differences)
        return report

    def verify_keys(self, plan: TablePlan, schema: TableSchema, keys: Sequence[Key]) -> ObjectReport:
        """Compare only these rows (the keys changed since a full comparison)."""
        report = ObjectReport(plan.name, plan.dest_name, schema.key)
        self._progress.object_started(plan.name, len(keys))
        mine, read_at = self._read_source(plan, schema, keys)
        theirs = self._read_destination(plan, schema, keys)
        report.source_count, report.destination_count = len(mine), len(theirs)
        suspects = Suspects()
        suspects.add(compare(mine, theirs), mine, read_at, self._source.position_order)
        differences, report.changing = settle(suspects, lambda keys: self._read_source(plan, schema, keys),
                                              lambda keys: self._read_destination(plan, schema, keys), self._watch)
        report.record(differences)
        self._progress.advanced(len(keys))
        return report

    def _scan(self, plan: TablePlan, schema: TableSchema, report: ObjectReport) -> Suspects:
        try:
            return self._scan_chunks(plan, schema, report)
        finally:
            self._source.close_snapshot()

    def _scan_chunks(self, plan: TablePlan, schema: TableSchema, report: ObjectReport) -> Suspects:
        suspects = Suspects()
        after: tuple[Any, ...] | None = None
        report.destination_count = 0
        while True:
            read_at = self._source.open_snapshot()  # a read view per chunk, and the position it shows
            rows = self._source.read_chunk(schema, after, CHUNK_ROWS, plan.filter)
            if read_at is None:  # live reads: everything read is at or before the position now
                read_at = self._source.current_position()
            upto = tuple(rows[-1][name] for name in schema.key) if len(rows) == CHUNK_ROWS else None
            theirs = self._sink.read_range(schema, plan.dest_database, plan.dest_table, after, upto)
            report.source_count += len(rows)
            report.destination_count += len(theirs)
            mine_values, their_values = _values(schema, rows), _values(schema, theirs)
            if _digest(mine_values) != _digest(their_values):
                suspects.add(compare(mine_values, their_values), mine_values, read_at, self._source.position_order)
            self._progress.advanced(len(rows))
            if upto is None:
                return suspects
            after = upto

    def _read_source(self, plan: TablePlan, schema: TableSchema, keys: Sequence[Key]) -> tuple[dict[Key, Value], Position]:
        rows = [row for batch in _batches(keys) for row in self._source.read_keys(schema, batch, plan.filter)]  # type: ignore[arg-type]
        return _values(schema, rows), self._source.current_position()

    def _read_destination(self, plan: TablePlan, schema: TableSchema, keys: Sequence[Key]) -> dict[Key, Value]:
        return _values(schema, [row for batch in _batches(keys)
                                for row in self._sink.read_keys(schema, plan.dest_database, plan.dest_table, batch)])  # type: ignore[arg-type]

    def repair(self, plan: TablePlan, schema: TableSchema, report: ObjectReport, changelog: ChangeLog) -> None:
        """Rewrite the report's differing rows from the source through the change log, wait until the
        applier wrote them, and compare those keys again (the report then says what is left)."""
        keys: list[Key] = [*report.missing, *report.extra, *report.different]
        last_seq, repairs = append_repairs(changelog, keys, REPAIR_BATCH,
                                           lambda batch, reader_at: self._repair_transaction(plan, schema, batch, reader_at))
        events = [event for repair in repairs for event in repair.events]
        report.repaired = {"written": sum(1 for event in events if event.op == "insert"),
                           "deleted": sum(1 for event in events if event.op == "delete")}
        check_repaired(report, keys, last_seq, lambda keys: self._read_source(plan, schema, keys),
                       lambda keys: self._read_destination(plan, schema, keys), self._watch,
                       self._source.position_order)

    def _repair_transaction(self, plan: TablePlan, schema: TableSchema, keys: Sequence[Key],
                            reader_at: Position) -> Transaction:
        """The rows of `keys` as the source holds them at one position: an upsert for each row there, a
        delete for each key gone. Its events carry that position, the transaction the reader's."""
        at, rows = self._source.read_keys_consistently(schema, keys, plan.filter)  # type: ignore[arg-type]
        if self._source.position_order(at) < self._source.position_order(reader_at):
            raise DtsError("the source's position went back while repairing; run verify again")
        now = time.time()
        present = {tuple(row[name] for name in schema.key): row for row in rows}
        events = [
            ChangeEvent(plan.source_database, plan.source_table, "insert", None, present[key], now, at, repair=True)
            if key in present else
            ChangeEvent(plan.source_database, plan.source_table, "delete", dict(zip(schema.key, key)),  # type: ignore[call-overload]
                        None, now, at, repair=True)
            for key in keys
        ]
        return Transaction(tuple(events), reader_at, now)


def changed_keys(payloads: Sequence[str | bytes], schemas: dict[str, TableSchema]) -> dict[str, set[Key]] | None:
    """Per selected table ("db.table"), the keys of the rows these change-log transactions change;
    None when one holds DDL (a table's shape or name changed: compare everything)."""
    keys: dict[str, set[Key]] = {name: set() for name in schemas}
    for payload in payloads:
        for event in Transaction.from_payload(payload, None, 0.0).events:  # type: ignore[arg-type]
            if event.op == "ddl":
                return None
            schema = schemas.get(f"{event.database}.{event.table}")
            if schema is not None:
                keys[f"{event.database}.{event.table}"].update(
                    tuple(image[name] for name in schema.key) for image in (event.before, event.after) if image)
    return keys


def _batches(keys: Sequence[Key]) -> list[Sequence[Key]]:
    return [keys[start:start + REPAIR_BATCH] for start in range(0, len(keys), REPAIR_BATCH)]


def _values(schema: TableSchema, rows: Sequence[Row]) -> dict[Key, Value]:
    """key -> the row in a comparable form (column values in name order, as checksums take them)."""
    names = sorted(schema.column_names)
    return {tuple(row[name] for name in schema.key): tuple(canonical(row.get(name)) for name in names)
            for row in rows}


def _digest(values: dict[Key, Value]) -> str:
    digest = hashlib.sha256()
    for key in sorted(values, key=repr):
        digest.update(repr((key, values[key])).encode())
    return digest.hexdigest()
