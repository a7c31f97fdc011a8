"""What a destination of a shared change log (one-to-many) reports: its own place in the stream.

One agent reads the source for every destination, so its reader thread cannot speak for the
others, and which agent reads changes when one dies. Each agent's applier loop therefore reads
from the log what the reader found (the newest source commit time, and for Redis the newest
heartbeat) and pairs it with its own applied position: every destination's lag and checkpoint
are its own, whichever agent reads.
"""

from __future__ import annotations

import time
from typing import Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Position
from dtsctl.engine.progress import Progress

REFRESH_SECONDS = 0.25  # status.json is written every 0.5 s


class SharedLogStatus:
    def __init__(self, changelog: ChangeLog, progress: Progress, describe: Callable[[Position], str],
                 also: Callable[[ChangeLog], None] = lambda changelog: None) -> None:
        """`describe` renders a source position; `also` reads what else an engine reports from the log."""
        self._changelog = changelog
        self._progress = progress
        self._describe = describe
        self._also = also
        self._refreshed_at = 0.0

    def refresh(self, applied_seq: int) -> None:
        """Report the checkpoint after `applied_seq` and what the reader saw (at most every REFRESH_SECONDS)."""
        now = time.monotonic()
        if now - self._refreshed_at < REFRESH_SECONDS:
            return
        self._refreshed_at = now
        found, position = self._changelog.applied_position(applied_seq)
        # a trimmed change keeps the checkpoint shown until the next one is applied
        self._progress.reader_advanced(self._describe(position) if found else None,
                                       self._changelog.newest_commit_time())
        self._also(self._changelog)
