"""The document reader: source -> change log, dropping the transactions a two-way peer applied.

A direction of a pair also records, with each record it keeps, the keys it writes and how far
its source had received the peer's changes (`peer_seen` in its position), which the other
direction checks before it applies a change (dtsctl.engine.peer_writes).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.documents.changes import Record
from dtsctl.engine.documents.interfaces import DocumentSource
from dtsctl.engine.documents.loop import peer_applied, written_by
from dtsctl.engine.events import Position
from dtsctl.engine.peer_writes import row_key
from dtsctl.engine.progress import Progress
from dtsctl.engine.reader import ChangeLogReader

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
SAVE_POSITION_EVERY_SECONDS = 1.0


class DocumentReader(ChangeLogReader[DocumentSource]):
    """Appends records with the position after them in one change-log transaction."""

    def __init__(self, make_source: Callable[[], DocumentSource], changelog_path: Path, progress: Progress,
                 appended: threading.Event, copy: bool, dropped_origin: str | None,
                 readable: Callable[[Any], dict[str, Any]], shared: bool = False) -> None:
        super().__init__(make_source, changelog_path, progress, appended, shared)
        self._copy = copy
        self._dropped_origin = dropped_origin
        self._readable = readable  # the connector's: packed document -> Extended JSON
        self._peer_seen = 0

    def _loop(self, source: DocumentSource, changelog: ChangeLog) -> None:
        _, saved = changelog.reader_position()
        self._peer_seen = int((saved or {}).get("peer_seen", 0))
        source.open(saved, self._copy)
        self._advanced(source.describe_position(saved), changelog.newest_commit_time())
        saved_at = time.monotonic()
        while not self._halt.is_set():
            records, position = source.read(POLL_SECONDS)
            if self._dropped_origin is not None:
                records = self._without_peer_writes(records, self._dropped_origin)
                position = self._seen(position)  # after the records: with the peer_seen they moved it to
            if records:
                changelog.append(records, position)
                self._appended.set()
                self._advanced(source.describe_position(position), records[-1].commit_time,
                               sum(len(record.changes) for record in records if not record.copy))
                saved, saved_at = position, time.monotonic()
            elif position != saved and time.monotonic() - saved_at >= SAVE_POSITION_EVERY_SECONDS:
                changelog.set_reader_position(position)  # the peer's dropped writes still move it
                self._advanced(source.describe_position(position), None)
                saved, saved_at = position, time.monotonic()
            if self._shared and changelog.take_resync_request():
                # A destination joined the topology after the log let go of the copy: every
                # destination gets a new one, after new resume points.
                log.warning("a destination joined the topology: copying everything again")
                source.open(None, self._copy)
                saved = None

    def _without_peer_writes(self, records: list[Record], origin: str) -> list[Record]:
        """The records the peer did not write, each with its keys and `peer_seen`; the peer's own
        move `peer_seen` to the applied seq their marker carries."""
        kept = []
        for record in records:
            if written_by(record, origin):
                self._peer_seen = max(self._peer_seen, peer_applied(record, origin, self._readable))
            elif record.copy or record.control is not None:
                kept.append(record)  # the copy's writes are not recorded (docs/topologies.md)
            else:
                keys = tuple(row_key(change.database, change.collection, [change.id])
                             for change in record.changes if change.op != "ddl")
                kept.append(dataclasses.replace(record, position=self._seen(record.position), keys=keys))
        return kept

    def _seen(self, position: Position) -> Position:
        return {**position, "peer_seen": self._peer_seen} if isinstance(position, dict) else position
