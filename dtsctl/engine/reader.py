"""The reader thread every pipeline shares: a source -> the change log. It never waits for the applier."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from pathlib import Path
from typing import IO, Callable, Generic, TypeVar

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.progress import Progress
from dtsctl.engine.worker import Worker

log = logging.getLogger(__name__)

READER_LOCK = "reader.lock"  # beside a shared change log: held by the one agent that reads the source
TAKE_TURN_SECONDS = 0.5

SourceT = TypeVar("SourceT")


class ChangeLogReader(Worker, Generic[SourceT]):
    """A thread that feeds the change log from a source it opens itself; `_loop` does the reading.

    It never waits for the applier. Errors are kept in `error`, and `appended` is set so the
    main thread wakes up and raises them.
    """

    def __init__(self, make_source: Callable[[], SourceT], changelog_path: Path, progress: Progress,
                 appended: threading.Event, shared: bool = False) -> None:
        super().__init__("reader")
        self._make_source = make_source
        self._changelog_path = changelog_path
        self._progress = progress
        self._appended = appended
        self._shared = shared
        self.error: BaseException | None = None

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
