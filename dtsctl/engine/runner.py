"""What every pipeline's runner shares: the apply loop, watching the reader process, stopping threads.

A run always starts from the committed checkpoints, so after any failure the
agent simply runs again: that is how crashes and connection retries resume.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from dtsctl.engine.changelog import ChangeLog, stream_started_for
from dtsctl.engine.checkpoint import CheckOutcome, Checkpoint, CheckpointStore, load_after_precheck
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.progress import Progress
from dtsctl.engine.reader import ChangeLogReader
from dtsctl.engine.applier_status import ApplierStatus
from dtsctl.engine.task import TaskSpec
from dtsctl.engine.worker import Worker

TRIM_EVERY_SECONDS = 1.0


class WatchedReader(Protocol):
    def check(self) -> None:
        """Raise the reader's failure; start a reader killed from outside again."""


class AppliesNext(Protocol):
    def apply_next(self, cp: Checkpoint) -> bool:
        """Apply the next change-log transaction(s) and commit `cp` with them; False when idle."""

    def forget_old_writes(self) -> None: ...


class Endpoint(CheckpointStore, Protocol):
    def check_connection(self) -> None: ...

    def fence(self, token: int) -> None: ...

    def close(self) -> None: ...


class SourceConnector(Protocol):
    def source(self, spec: TaskSpec) -> Any: ...

    def precheck(self, spec: TaskSpec) -> Sequence[CheckOutcome]: ...


class ChangeLogPipeline(Protocol):
    spec: TaskSpec
    connector: Any


class PipelineRunner:
    """One run of a task; `run()` until `stop` is set (or a migration completes)."""

    IDLE_WAIT_SECONDS = 0.1

    def __init__(self, spec: TaskSpec, changelog_path: Path, progress: Progress, stop: threading.Event,
                 on_commit: Callable[[], None]) -> None:
        self.spec = spec
        self.changelog_path = changelog_path
        self.progress = progress
        self.stop = stop
        self.on_commit = on_commit

    def _resume(self, connector: SourceConnector, sink: Endpoint) -> tuple[Checkpoint, ChangeLog]:
        """Reach both ends, load the checkpoint, open the change log and decide whether it can be
        trusted (`_trust_or_reset`): where a key-value or document run starts."""
        cp = self._reach_and_load(connector.source(self.spec), sink, lambda: connector.precheck(self.spec))
        changelog = ChangeLog(self.changelog_path)
        try:
            self._trust_or_reset(changelog, cp, sink)
        except BaseException:
            changelog.close()
            raise
        return cp, changelog

    def _trust_or_reset(self, changelog: ChangeLog, cp: Checkpoint, sink: Any) -> None:
        """Keep the change log when the checkpoint says it holds what comes next, else start over."""
        raise NotImplementedError

    def _reach_and_load(self, source: Endpoint, sink: Endpoint,
                        precheck: Callable[[], Sequence[CheckOutcome]]) -> Checkpoint:
        """Both ends answer (else ConnectionFailure, retried), then the destination's checkpoint after the
        precheck a fresh task must pass (shown in status). `source` is closed afterwards. In the
        cluster runtime the former owner is fenced off first, so the checkpoint read is the last it
        could commit."""
        with contextlib.closing(source):
            source.check_connection()
        sink.check_connection()
        self.progress.set_error(None)  # both ends answer again
        token = self.spec.fencing_token
        if token is not None:
            sink.fence(token)
        cp = load_after_precheck(sink, precheck, lambda: self.progress.set_phase("precheck"),
                                 lambda: streamed_without_copy(self.spec, self.changelog_path))
        cp.fencing_token = token  # carried by every checkpoint written from now on
        self.progress.committed(cp)
        return cp

    def _apply_loop(self, applier: AppliesNext, cp: Checkpoint, changelog: ChangeLog, reader: WatchedReader,
                    appended: threading.Event, status: ApplierStatus, each_round: Callable[[], None] = lambda: None,
                    completed: Callable[[], bool] = lambda: False) -> Outcome:
        """Apply the change log as the reader fills it, trimming what is applied; COMPLETED once
        `completed()` says so while nothing is left to apply, STOPPED when asked to stop. `status`
        reports the applied position (and a shared log's destination its lag)."""
        trimmed_at = 0.0
        self.progress.committed(cp, caught_up=cp.applied_seq >= changelog.last_seq())  # no lag of 0 while behind
        while not self.stop.is_set():
            status.refresh(cp.applied_seq)  # before each_round, which may announce a new phase
            each_round()
            reader.check()
            if time.monotonic() - trimmed_at >= TRIM_EVERY_SECONDS:
                release(changelog, self.spec, cp.applied_seq)
                applier.forget_old_writes()
                trimmed_at = time.monotonic()
            if applier.apply_next(cp):
                self.progress.committed(cp, caught_up=cp.applied_seq >= changelog.last_seq())
                self.on_commit()
                continue
            if completed():
                self.progress.set_phase("done")
                return Outcome.COMPLETED
            self.progress.committed(cp, caught_up=True)
            appended.wait(self.IDLE_WAIT_SECONDS)
            appended.clear()
        return Outcome.STOPPED


class ChangeLogRunner(PipelineRunner):
    """A run whose reader process fills the change log that the apply loop drains (key-value and
    document pipelines): reaching both ends, starting the reader, and closing everything after,
    in one place. A pipeline supplies its reader (`_reader`) and what it applies with (`_stream`)."""

    def __init__(self, pipeline: ChangeLogPipeline, changelog_path: Path, progress: Progress,
                 stop: threading.Event, on_commit: Callable[[], None]) -> None:
        super().__init__(pipeline.spec, changelog_path, progress, stop, on_commit)
        self.connector: Any = pipeline.connector

    def run(self) -> Outcome:
        sink = self.connector.sink(self.spec)
        changelog: ChangeLog | None = None
        threads: list[Worker | ChangeLogReader] = []
        try:
            cp, changelog = self._resume(self.connector, sink)
            appended = threading.Event()
            reader = self._reader(appended)
            reader.start()
            threads.append(reader)
            return self._stream(sink, changelog, reader, appended, cp, threads)
        finally:
            stop_threads(*reversed(threads))
            if changelog is not None:
                changelog.close()
            sink.close()

    def _reader(self, appended: threading.Event) -> ChangeLogReader:
        """The reader process that fills the change log, setting `appended` after each append."""
        raise NotImplementedError

    def _stream(self, sink: Any, changelog: ChangeLog, reader: ChangeLogReader, appended: threading.Event,
                cp: Checkpoint, threads: list[Worker | ChangeLogReader]) -> Outcome:
        """Apply until stopped (or completed); a helper thread it starts goes in `threads`, which are
        stopped after it returns, newest first."""
        raise NotImplementedError


def stop_threads(*threads: Worker | ChangeLogReader | None) -> None:
    """Stop the run's helper threads (reader, delivery, ...) and wait for them, in order."""
    for thread in threads:
        if thread is not None:
            thread.stop()
            thread.join(timeout=30)


def streamed_without_copy(spec: TaskSpec, changelog_path: Path) -> bool:
    """True for a task that copies nothing and whose own change log already streams its source."""
    return ("full" not in spec.phases and spec.incremental and not spec.shares_log
            and stream_started_for(changelog_path, spec.task_id))


def release(changelog: ChangeLog, spec: TaskSpec, applied_seq: int) -> None:
    """Trim what the applier is past: up to the slowest destination when the log is shared."""
    if spec.shares_log:
        changelog.release(spec.task_id, applied_seq)
    else:
        changelog.trim(applied_seq)
