"""The document applier: change log -> sink, a batch of whole records and the checkpoint at a time.

The checkpoint is the engine's `Checkpoint`, with one `tables` entry per selected source
collection ("db.coll" -> destination "db.coll"). A destination that cannot commit a batch
with its checkpoint atomically first records how far the batch goes (`replay_until_seq`),
so a batch cut short by a crash is applied again idempotently, never as a conflict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.documents.changes import COPY_BEGIN, COPY_END, DocumentChange, Record
from dtsctl.engine.documents.interfaces import DocumentSink
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.events import ConflictCounts
from dtsctl.engine.throttle import Throttle

log = logging.getLogger(__name__)

MAX_RECORDS_PER_BATCH = 64
MAX_CHANGES_PER_BATCH = 5_000
_DML = {"insert": "insert", "replace": "update", "update": "update", "delete": "delete"}


def in_copy(cp: Checkpoint) -> bool:
    """True before the copy has begun and while it runs."""
    return not cp.tables or not all(table.copy_done for table in cp.tables.values())


@dataclass
class DocumentApplier:
    sink: DocumentSink
    changelog: ChangeLog
    selection: Selection
    throttle: Throttle
    conflicts: Conflicts
    create_schema: bool  # the `schema` phase: create collections and indexes before the copy

    def apply_next(self, cp: Checkpoint) -> bool:
        """Apply the next batch (or one control or DDL record); mutate `cp` to what was committed."""
        rows = self.changelog.read_raw(cp.applied_seq, MAX_RECORDS_PER_BATCH)
        if not rows:
            return False
        records = [(seq, Record.from_payload(payload, position, commit_time))
                   for seq, position, commit_time, payload in rows]
        seq, first = records[0]
        if first.control is not None:
            self._control(first.control, seq, first.commit_time, cp)
        elif any(change.op == "ddl" for change in first.changes):
            self._ddl(seq, first, cp)
        else:
            self._batch(self._same_kind(records), cp)
        return True

    def forget_old_writes(self) -> None:
        """Nothing to forget: peers' writes are recognised by their transaction's marker."""

    @staticmethod
    def _same_kind(records: list[tuple[int, Record]]) -> list[tuple[int, Record]]:
        """The leading records that can share one destination transaction."""
        first = records[0][1]
        batch, changes = [], 0
        for seq, record in records:
            if (record.control is not None or record.copy != first.copy or record.replay != first.replay
                    or any(change.op == "ddl" for change in record.changes)
                    or (batch and changes + len(record.changes) > MAX_CHANGES_PER_BATCH)):
                break
            batch.append((seq, record))
            changes += len(record.changes)
        return batch

    # -- data -------------------------------------------------------------------------
    def _batch(self, records: list[tuple[int, Record]], cp: Checkpoint) -> None:
        first = records[0][1]
        changes = [change for _, record in records for change in self._routed(record.changes)]
        if self.throttle.limited:
            self.throttle.wait(len(changes), sum(len(str(change.document or "")) for change in changes))
        after = cp.copy()
        after.applied_seq = records[-1][0]
        after.applied_commit_time = max(cp.applied_commit_time or 0.0, max(record.commit_time for _, record in records))
        after.source_position = records[-1][1].position or cp.source_position
        uncertain = cp.replay_until_seq is not None and records[0][0] <= cp.replay_until_seq
        if not self.sink.transactional and changes:
            intent = cp.copy()
            intent.replay_until_seq = after.applied_seq
            self.sink.save_checkpoint(intent.to_json())
        after.replay_until_seq = None
        if first.copy:
            self._count_copied(records, after)
            self.sink.copy(changes, self.conflicts.policy.keeps_destination, after.to_json())
        else:
            after.events_applied += len(changes)

            def checkpoint(conflicts: ConflictCounts) -> dict[str, Any]:
                for op, count in conflicts.as_dict().items():
                    after.conflicts.add(op, count)  # type: ignore[arg-type]
                return after.to_json()

            self.sink.apply(changes, first.replay or uncertain, self.conflicts, checkpoint)
        cp.__dict__.update(after.__dict__)

    def _routed(self, changes: tuple[DocumentChange, ...]) -> list[DocumentChange]:
        """The selected changes under destination names (the source already applied filters)."""
        routed = []
        for change in changes:
            if not self.selection.wanted(change.database, change.collection):
                continue
            if change.op == "ddl":
                if self.selection.forwards_ddl(change.database):
                    routed.append(self._renamed_ddl(change))
                continue
            if _DML[change.op] in self.selection.writes_ops(change.database):
                routed.append(change.renamed(*self.selection.destination(change.database, change.collection)))
        return routed

    def _renamed_ddl(self, change: DocumentChange) -> DocumentChange:
        """A DDL change under destination names, its rename target too."""
        ddl = dict(change.ddl or {})
        if ddl.get("to"):
            ddl["to"] = list(self.selection.destination(*ddl["to"]))
        return DocumentChange("ddl", *self.selection.destination(change.database, change.collection), ddl=ddl)

    @staticmethod
    def _count_copied(records: list[tuple[int, Record]], cp: Checkpoint) -> None:
        for _, record in records:
            for change in record.changes:
                cp.rows_copied += 1
                table = cp.tables.get(change.namespace)
                if table is not None:
                    table.rows_copied += 1

    # -- DDL and control rows -----------------------------------------------------------
    def _ddl(self, seq: int, record: Record, cp: Checkpoint) -> None:
        """A record holding DDL (MongoDB allows some in a transaction): each step in order, each
        idempotent (DDL tolerates "already done", data is replayed), with the checkpoint left where it
        was until the whole record is applied, so a crash in between applies all of it again."""
        after = cp.copy()
        after.applied_seq = seq
        after.source_position = record.position
        after.applied_commit_time = max(cp.applied_commit_time or 0.0, record.commit_time)
        unchanged = cp.to_json()
        data: list[DocumentChange] = []
        for change in self._routed(record.changes) + [None]:  # None: the end, where data left over is applied
            if change is not None and change.op != "ddl":
                data.append(change)
                continue
            if data:
                self.sink.apply(data, True, self.conflicts, lambda counts: unchanged)
                after.events_applied += len(data)
                data = []
            if change is not None:
                log.info("replaying %s on %s", (change.ddl or {}).get("kind"), change.namespace)
                self.sink.apply_ddl(change, unchanged)
                after.events_applied += 1
        self.sink.save_checkpoint(after.to_json())
        cp.__dict__.update(after.__dict__)

    def _control(self, control: dict[str, Any], seq: int, commit_time: float, cp: Checkpoint) -> None:
        after = cp.copy()
        if control["op"] == COPY_BEGIN:
            after.tables = {}
            for namespace, details in control["collections"].items():
                database, _, collection = namespace.partition(".")
                if not self.selection.wanted(database, collection):
                    continue
                destination = self.selection.destination(database, collection)
                if self.create_schema:
                    self.sink.create_collection(*destination, details.get("schema") or {})
                after.tables[namespace] = TableProgress(destination=".".join(destination), schema_done=True,
                                                        rows_estimated=details.get("estimate", 0))
            log.info("copying %d collections", len(after.tables))
        elif control["op"] == COPY_END:
            for table in after.tables.values():
                table.copy_done = True
            log.info("full copy done (%d documents); applying the change stream", after.rows_copied)
        after.applied_seq = seq
        after.applied_commit_time = max(cp.applied_commit_time or 0.0, commit_time)
        self.sink.save_checkpoint(after.to_json())
        cp.__dict__.update(after.__dict__)
