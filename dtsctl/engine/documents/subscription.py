"""Subscriptions on a document source: its change stream, recorded in the common envelope.

A record's `object` is "db.collection"; `before` and `after` are documents in canonical
Extended JSON. `before` is the pre-image when the collection records them
(`changeStreamPreAndPostImages`), else, for an update or delete, just `{"_id": ...}`, so a
consumer always knows which document changed. DDL events are not recorded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.documents.changes import DocumentChange, Record
from dtsctl.engine.documents.pipeline import DocumentPipeline
from dtsctl.engine.documents.reader import DocumentReader
from dtsctl.engine.events import ChangeEvent, Transaction
from dtsctl.engine.pipeline import CheckResult
from dtsctl.engine.progress import Progress
from dtsctl.engine.subscription.pipeline import SubscriptionPipeline
from dtsctl.engine.subscription.recorder import Recorder
from dtsctl.engine.subscription.runner import KeyspaceSubscriptionRunner, SubscriptionProgress
from dtsctl.engine.subscription.store import SubscriptionStore

Readable = Callable[[Any], dict[str, Any]]  # the connector's: packed document -> Extended JSON
_ENVELOPE_OP = {"insert": "insert", "replace": "update", "update": "update", "delete": "delete"}


class DocumentSubscriptionPipeline(SubscriptionPipeline):
    source: DocumentPipeline

    def progress(self) -> SubscriptionProgress:
        return SubscriptionProgress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> "DocumentSubscriptionRunner":
        return DocumentSubscriptionRunner(self, changelog_path, progress, stop, on_commit)  # type: ignore[arg-type]


class DocumentSubscriptionRunner(KeyspaceSubscriptionRunner):
    """Like a key-value subscription, a fresh task's reader fixes its own start (the change
    streams' resume points); no copy is recorded."""

    pipeline: DocumentSubscriptionPipeline  # type: ignore[assignment]

    def _source(self) -> Any:
        return self.pipeline.source.connector.source(self.spec)

    def _reader(self, appended: threading.Event) -> DocumentReader:  # type: ignore[override]
        return DocumentReader(self._source, self.changelog_path, self.progress, appended, copy=False,
                              dropped_origin=None)

    def _recorder(self, store: SubscriptionStore, changelog: ChangeLog) -> Recorder:
        return DocumentRecorder(store, changelog, self.pipeline.source.connector.readable)

    def _failed_prechecks(self) -> list[str]:
        checks: list[CheckResult] = self.pipeline.precheck()
        return [check.message for check in checks if not check.ok and not check.warning]


class DocumentRecorder(Recorder):
    def __init__(self, store: SubscriptionStore, changelog: ChangeLog, readable: Readable) -> None:
        super().__init__(store, changelog)
        self._readable = readable

    def _read(self, after_seq: int, limit: int) -> list[tuple[int, Transaction]]:
        return [(seq, transaction(Record.from_payload(payload, position, commit_time), self._readable))
                for seq, position, commit_time, payload in self.changelog.read_raw(after_seq, limit)]


def transaction(record: Record, readable: Readable) -> Transaction:
    """A change-log record as the envelope's transaction: its data changes, in order (controls and
    DDL give none)."""
    events = tuple(event(change, record, readable) for change in record.changes if change.op in _ENVELOPE_OP)
    return Transaction(events, record.position, record.commit_time)


def event(change: DocumentChange, record: Record, readable: Readable) -> ChangeEvent:
    if change.before is not None:
        before = readable(change.before)
    else:
        before = None if change.op == "insert" else {"_id": change.id}
    after = None if change.op == "delete" or change.document is None else readable(change.document)
    return ChangeEvent(change.database, change.collection, _ENVELOPE_OP[change.op], before, after,  # type: ignore[arg-type]
                       record.commit_time, record.position)
