"""The document reader: source -> change log, dropping the transactions a two-way peer applied."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.documents.interfaces import DocumentSource
from dtsctl.engine.documents.loop import written_by
from dtsctl.engine.progress import Progress
from dtsctl.engine.reader import ChangeLogReader

POLL_SECONDS = 0.2
SAVE_POSITION_EVERY_SECONDS = 1.0


class DocumentReader(ChangeLogReader[DocumentSource]):
    """Appends records with the position after them in one change-log transaction."""

    def __init__(self, make_source: Callable[[], DocumentSource], changelog_path: Path, progress: Progress,
                 appended: threading.Event, copy: bool, dropped_origin: str | None) -> None:
        super().__init__(make_source, changelog_path, progress, appended)
        self._copy = copy
        self._dropped_origin = dropped_origin

    def _loop(self, source: DocumentSource, changelog: ChangeLog) -> None:
        _, saved = changelog.reader_position()
        source.open(saved, self._copy)
        self._advanced(source.describe_position(saved), changelog.newest_commit_time())
        saved_at = time.monotonic()
        while not self._halt.is_set():
            records, position = source.read(POLL_SECONDS)
            if self._dropped_origin is not None:
                records = [record for record in records if not written_by(record, self._dropped_origin)]
            if records:
                changelog.append(records, position)
                self._appended.set()
                self._advanced(source.describe_position(position), records[-1].commit_time,
                               sum(len(record.changes) for record in records if not record.copy))
            elif position != saved and time.monotonic() - saved_at >= SAVE_POSITION_EVERY_SECONDS:
                changelog.set_reader_position(position)  # the peer's dropped writes still move it
                self._advanced(source.describe_position(position), None)
            else:
                continue
            saved, saved_at = position, time.monotonic()
