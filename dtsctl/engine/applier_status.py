"""What the applier reports: the source position it has applied up to, beside the reader's.

The reader runs in its own process and reports where it stands in the source; the applier
reports the source position after the last change it committed (from the change log), so a
user sees which side is behind.

A destination of a shared change log (one-to-many) also shows that applied position as its
checkpoint: one agent reads the source for every destination, so its reader cannot speak for
the others, and which agent reads changes when one dies. Each agent's applier loop therefore
reads from the log what the reader found (the newest source commit time, and for Redis the
newest heartbeat) and pairs it with its own applied position: every destination's lag and
checkpoint are its own, whichever agent reads.
"""

from __future__ import annotations

import time
from typing import Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Position
from dtsctl.engine.progress import Progress

REFRESH_SECONDS = 0.25  # status.json is written every 0.5 s


class ApplierStatus:
    def __init__(self, changelog: ChangeLog, progress: Progress, describe: Callable[[Position], str],
                 shared: bool = False, also: Callable[[ChangeLog], None] = lambda changelog: None) -> None:
        """`describe` renders a source position; `shared`: the log is shared (one-to-many); `also`
        reads what else an engine reports from a shared log."""
        self._changelog = changelog
        self._progress = progress
        self._describe = describe
        self._shared = shared
        self._also = also
        self._refreshed_at = 0.0
        self._shown = False  # a position was reported

    def refresh(self, applied_seq: int) -> None:
        """Report the position after `applied_seq` (at most every REFRESH_SECONDS once one is shown,
        so that a first position appears with the first change applied); for a shared log, also as
        the checkpoint, with what the reader saw."""
        now = time.monotonic()
        if self._shown and now - self._refreshed_at < REFRESH_SECONDS:
            return
        self._refreshed_at = now
        found, position = self._changelog.applied_position(applied_seq)
        # a trimmed change keeps the position shown until the next one is applied
        shown = self._describe(position) if found and position is not None else None
        self._shown = self._shown or shown is not None
        self._progress.applier_advanced(shown)
        if self._shared:
            self._progress.reader_advanced(shown, self._changelog.newest_commit_time())
            self._also(self._changelog)
