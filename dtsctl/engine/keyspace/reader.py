"""The keyspace reader: replication connection -> change log. It never waits for the applier."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.keyspace.interfaces import KeyspaceSource
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.reader import ChangeLogReader

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
SAVE_POSITION_EVERY_SECONDS = 1.0


class KeyspaceReader(ChangeLogReader[KeyspaceSource]):
    """Appends records with the position after them in one change-log transaction, and only then
    acknowledges that position to the source."""

    _progress: KeyspaceProgress

    def __init__(self, make_source: Callable[[], KeyspaceSource], changelog_path: Path,
                 progress: KeyspaceProgress, appended: threading.Event, snapshot: bool, shared: bool = False) -> None:
        super().__init__(make_source, changelog_path, progress, appended, shared)
        self._snapshot = snapshot

    def _loop(self, source: KeyspaceSource, changelog: ChangeLog) -> None:
        _, saved = changelog.reader_position()
        source.open(saved, self._snapshot)
        if source.resync_reason:
            self._progress.resynced(source.resync_reason)
        self._advanced(source.describe_position(saved), changelog.newest_commit_time())
        saved_at, heartbeat = time.monotonic(), None
        while not self._halt.is_set():
            records, position = source.read(POLL_SECONDS)
            if records:
                changelog.append(records, position)
                saved, saved_at = position, time.monotonic()
                self._appended.set()
                self._advanced(source.describe_position(position), records[-1].commit_time, len(records))
            elif position != saved and time.monotonic() - saved_at >= SAVE_POSITION_EVERY_SECONDS:
                # filtered-out writes and pings still move the position: keep it fresh for PSYNC
                changelog.set_reader_position(position)
                saved, saved_at = position, time.monotonic()
                self._advanced(source.describe_position(position), None)
            source.acknowledge(saved)
            heartbeat = self._heartbeat_read(source.last_heartbeat, heartbeat, changelog)
            if self._shared and changelog.resync_requested():
                # A destination joined the topology and needs a snapshot: every destination gets one.
                changelog.take_resync_request()
                log.warning("a destination joined the topology: copying everything again (full resync)")
                source.close()
                saved = None
                source.open(None, self._snapshot)

    def _heartbeat_read(self, source_time: float | None, shown: float | None, changelog: ChangeLog) -> float | None:
        """Report the newest heartbeat read back (for lag); a shared log keeps it for every destination.
        Returns the value now shown."""
        if source_time is None or source_time == shown:
            return shown
        if self._shared:
            changelog.set_heartbeat_seen(source_time)
        else:
            self._progress.heartbeat_read(source_time)
        return source_time
