"""The reader: source change stream -> change log. It never waits for the applier."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from pathlib import Path
from typing import IO, Callable, Generic, TypeVar

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.interfaces import Source
from dtsctl.engine.progress import Progress

log = logging.getLogger(__name__)

MAX_EVENTS_PER_READ = 2000
POLL_SECONDS = 0.05
RELEASE_EVERY_SECONDS = 1.0
READER_LOCK = "reader.lock"  # beside a shared change log: held by the one agent that reads the source
TAKE_TURN_SECONDS = 0.5

SourceT = TypeVar("SourceT")


class ChangeLogReader(threading.Thread, Generic[SourceT]):
    """A thread that feeds the change log from a source it opens itself; `_loop` does the reading.

    It never waits for the applier. Errors are kept in `error`, and `appended` is set so the
    main thread wakes up and raises them.
    """

    def __init__(self, make_source: Callable[[], SourceT], changelog_path: Path, progress: Progress,
                 appended: threading.Event, shared: bool = False) -> None:
        super().__init__(name="reader", daemon=True)
        self._make_source = make_source
        self._changelog_path = changelog_path
        self._progress = progress
        self._appended = appended
        self._shared = shared
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        with contextlib.ExitStack() as held:
            if self._shared:
                lock = held.enter_context(open(self._changelog_path.parent / READER_LOCK, "a+"))
                if not self._take_turn(lock):
                    return
                log.info("reading the source for every destination of the topology")
            source = self._make_source()
            changelog = ChangeLog(self._changelog_path)
            try:
                self._loop(source, changelog)
            except BaseException as exc:  # handed to the main thread, which decides retry or exit
                self.error = exc
                self._appended.set()
            finally:
                source.close()
                changelog.close()

    def _take_turn(self, lock: IO[str]) -> bool:
        """A shared log has one reader among the agents that apply it: wait until this agent holds
        the log's reader lock (its holder stopped or died). False when stopped first."""
        while not self._halt.is_set():
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                self._halt.wait(TAKE_TURN_SECONDS)
        return False

    def _loop(self, source: SourceT, changelog: ChangeLog) -> None:
        raise NotImplementedError

    def _advanced(self, position: str, newest_commit_time: float | None, events: int = 0) -> None:
        """Count `events` read, and show the reader's position as this agent's checkpoint. The
        destinations of a shared log each show their own applied position instead
        (dtsctl.engine.shared_status)."""
        if self._shared:
            self._progress.reader_advanced(None, None, events)
        else:
            self._progress.reader_advanced(position, newest_commit_time, events)


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
                recorded = [tx for tx in transactions if tx.events]
                changelog.append(recorded, position)
                self._appended.set()
                self._advanced(source.describe_position(position), changelog.newest_commit_time(),
                               sum(len(tx.events) for tx in recorded))
            if position != released and time.monotonic() - released_at >= RELEASE_EVERY_SECONDS:
                self._release(source, position)
                released, released_at = position, time.monotonic()

    @staticmethod
    def _release(source: Source, position: object) -> None:
        try:
            source.release(position)
        except Exception as exc:  # trimming is housekeeping; the next round tries again
            log.warning("could not trim captured changes at the source yet: %s", exc)
