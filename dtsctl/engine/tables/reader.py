"""The table reader: source change stream -> change log. It never waits for the applier."""

from __future__ import annotations

import logging
import time

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.reader import ChangeLogReader
from dtsctl.engine.tables.interfaces import Source

log = logging.getLogger(__name__)

MAX_EVENTS_PER_READ = 2000
POLL_SECONDS = 0.05
RELEASE_EVERY_SECONDS = 1.0


class Reader(ChangeLogReader[Source]):
    """Appends source transactions to the change log, committing its source position with them.

    Changes are released at the source (e.g. the capture table trimmed) only after the
    append committed.
    """

    def _loop(self, source: Source, changelog: ChangeLog) -> None:
        _, position = changelog.reader_position()
        released_at = 0.0
        released = None
        self._advanced(source.describe_position(position), changelog.newest_commit_time())
        while not self._halt.is_set():
            transactions = source.read_changes(position, MAX_EVENTS_PER_READ, POLL_SECONDS)
            if transactions:
                position = transactions[-1].position
                # Position-only transactions (nothing selected, or dropped as a peer's) move
                # the reader position but add no record: the applier then writes nothing,
                # so an idle two-way pair stays idle instead of trading checkpoints.
                recorded = [tx for tx in transactions if tx.change_count()]
                changelog.append(recorded, position)
                self._appended.set()
                self._advanced(source.describe_position(position), changelog.newest_appended(),
                               sum(tx.change_count() for tx in recorded))
            if position != released and time.monotonic() - released_at >= RELEASE_EVERY_SECONDS:
                self._release(source, position)
                released, released_at = position, time.monotonic()

    @staticmethod
    def _release(source: Source, position: object) -> None:
        try:
            source.release(position)
        except Exception as exc:  # trimming is housekeeping; the next round tries again
            log.warning("could not trim captured changes at the source yet: %s", exc)
