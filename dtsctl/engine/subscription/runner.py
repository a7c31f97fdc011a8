"""One run of a subscription task: read the source into the change log, record, retain, deliver.

Same shape as `TaskRunner`: constructed by the agent, `run()` until `stop` is set,
resumable from the store and the change log after any failure. There is no
snapshot: the stream starts where the source is when the task is first run.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.errors import FatalError
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.progress import Progress
from dtsctl.engine.runner import PipelineRunner, stop_threads
from dtsctl.engine.subscription import retention
from dtsctl.engine.subscription.delivery import Delivery, delivery_cursor
from dtsctl.engine.subscription.recorder import EVENTS, NEWEST_COMMIT_TIME, SOURCE_SEQ, Recorder
from dtsctl.engine.subscription.spec import store_path
from dtsctl.engine.subscription.stores import RecordStore, location, open_store
from dtsctl.engine.tables.interfaces import Source
from dtsctl.engine.tables.reader import Reader

if TYPE_CHECKING:
    from dtsctl.engine.subscription.jetstream import JetStreamStore
    from dtsctl.engine.subscription.pipeline import KeyspaceSubscriptionPipeline, SubscriptionPipeline

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
HOUSEKEEPING_SECONDS = 1.0

# store meta keys
PRECHECK_DONE = "precheck_done"
STARTED = "stream_started"


class SubscriptionRunner(PipelineRunner):
    def __init__(self, pipeline: "SubscriptionPipeline", changelog_path: Path, progress: Progress,
                 stop: threading.Event, on_commit: Callable[[], None]) -> None:
        super().__init__(pipeline.spec, changelog_path, progress, stop, on_commit)
        self.pipeline = pipeline
        self.subscription = pipeline.subscription
        self.store_path = store_path(changelog_path.parent)
        self.store_location = location(changelog_path.parent, self.subscription.record_store)

    def _source(self) -> Any:
        return self.pipeline.source.source()  # type: ignore[attr-defined]

    def _reader(self, appended: threading.Event) -> Reader | KeyspaceReader:
        return Reader(self._source, self.changelog_path, self.progress, appended)

    def _recorder(self, store: RecordStore, changelog: ChangeLog) -> Recorder:
        return Recorder(store, changelog)

    def _failed_prechecks(self) -> list[str]:
        return [check.message for check in self.pipeline.precheck() if not check.ok and not check.warning]

    def run(self) -> Outcome:
        source = self._source()
        store = open_store(self.store_location)
        changelog: ChangeLog | None = None
        reader: Reader | KeyspaceReader | None = None
        delivery: Delivery | None = None
        try:
            source.check_connection()
            self.progress.set_error(None)
            self._precheck(store)
            store.sync_groups(self.subscription.groups)
            changelog = ChangeLog(self.changelog_path)
            self._start_stream(changelog, source, store)
            appended = threading.Event()
            reader = self._reader(appended)
            reader.start()
            if self.pipeline.make_target is not None:
                delivery = Delivery(self.store_path, self.pipeline.make_target, self.progress)
                delivery.start()
            recorder = self._recorder(store, changelog)
            self.progress.set_phase(recorder.phase())
            self._loop(recorder, reader, appended)
            return Outcome.STOPPED
        finally:
            stop_threads(reader, delivery)
            if changelog is not None:
                changelog.close()
            store.close()
            source.close()

    def _precheck(self, store: RecordStore) -> None:
        if store.get(PRECHECK_DONE):
            return
        self.progress.set_phase("precheck")
        failures = self._failed_prechecks()
        if failures:
            raise FatalError("precheck failed: " + "; ".join(failures))
        with store.transaction():
            store.set(PRECHECK_DONE, True)
        log.info("precheck passed")

    def _start_stream(self, changelog: ChangeLog, source: Source, store: RecordStore) -> None:
        """A fresh task starts the stream where the source is now; a running one resumes."""
        if not store.keeps_change_log:
            return self._resume_from_store(changelog, source, store)
        emptied = changelog.bind(self.spec.task_id)
        has_position, _ = changelog.reader_position()
        if not store.get(STARTED):
            changelog.reset()
            changelog.set_reader_position(source.current_position())
            with store.transaction():
                store.set(STARTED, True)
        elif emptied or not has_position:
            raise FatalError(
                f"the change log {self.changelog_path} lost its position while the task was running; "
                "replace the task (destroy, then apply) to start a new stream"
            )

    def _resume_from_store(self, changelog: ChangeLog, source: Source, store: "JetStreamStore") -> None:
        """A replicated store outlives the host: whichever host runs the task reads the source again from
        where the store's last complete transaction left it (a fresh stream: from where the source is now)."""
        changelog.bind(self.spec.task_id)
        changelog.reset()
        started, position = store.resume_position()
        if not started:
            position = source.current_position()
            store.start(position)
        else:
            log.info("reading the source again from the record stream's position %s",
                     source.describe_position(position))
        changelog.set_reader_position(position)
        with store.transaction():
            store.set(SOURCE_SEQ, changelog.last_seq())

    def _loop(self, recorder: Recorder, reader: Reader | KeyspaceReader, appended: threading.Event) -> None:
        store = recorder.store
        housekeeping_at = 0.0
        active_at = time.monotonic()
        while not self.stop.is_set():
            reader.check()
            recorded = recorder.record_next()
            if recorded:
                active_at = time.monotonic()
                self.on_commit()
            elif time.monotonic() - active_at >= HEARTBEAT_SECONDS:
                recorder.heartbeat()
                active_at = time.monotonic()
            if time.monotonic() - housekeeping_at >= HOUSEKEEPING_SECONDS:
                recorder.release_changelog()
                cursor = delivery_cursor(store)
                retention.enforce(store, self.subscription.retention, time.time(), [] if cursor is None else [cursor])
                housekeeping_at = time.monotonic()
            caught_up = recorder.source_seq >= recorder.changelog.last_seq()
            self.progress.committed(self._checkpoint(recorder), caught_up=caught_up)
            if not recorded:
                appended.wait(self.IDLE_WAIT_SECONDS)
                appended.clear()

    @staticmethod
    def _checkpoint(recorder: Recorder) -> Checkpoint:
        """Progress as the status reports it: records kept stand for events applied."""
        store = recorder.store
        return Checkpoint(applied_seq=recorder.source_seq, applied_commit_time=store.get(NEWEST_COMMIT_TIME),
                          events_applied=int(store.get(EVENTS, 0)), precheck_done=True)


class KeyspaceSubscriptionRunner(SubscriptionRunner):
    """A subscription on a key-value (Redis) source: the keyspace reader (replica connection) feeds the
    change log with source transactions; `KeyspaceRecorder` turns them into records
    (the connector's subscription support, e.g. connectors/redis/subscription.py). With `full` in
    `phases` the stream starts with the snapshot as `insert` records."""

    pipeline: "KeyspaceSubscriptionPipeline"

    def _source(self) -> Any:
        return self.pipeline.support.source(self.spec)

    def _reader(self, appended: threading.Event) -> KeyspaceReader:
        return self.pipeline.support.reader(self.spec, self.changelog_path, self.progress, appended)

    def _recorder(self, store: RecordStore, changelog: ChangeLog) -> Recorder:
        return self.pipeline.support.recorder(store, changelog, self.progress.set_phase)

    def _failed_prechecks(self) -> list[str]:
        return self.pipeline.support.precheck(self.spec)

    def _start_stream(self, changelog: ChangeLog, source: Any, store: RecordStore) -> None:
        """A fresh task starts with a full resync (its RDB kept only with `full` in `phases`); a running
        one continues from the change log's position (PSYNC)."""
        emptied = changelog.bind(self.spec.task_id)
        has_position, _ = changelog.reader_position()
        if not store.get(STARTED):
            changelog.reset()
            with store.transaction():
                store.set(STARTED, True)
        elif emptied or (not has_position and store.get(SOURCE_SEQ, 0)):
            raise FatalError(
                f"the change log {self.changelog_path} lost its position while the task was running; "
                "replace the task (destroy, then apply) to start a new stream"
            )


class SubscriptionProgress(KeyspaceProgress):
    """The keyspace reader's progress hooks, with the subscription's lag (the recorder's, as for tables)."""

    def _lag(self) -> float | None:
        return Progress._lag(self)

