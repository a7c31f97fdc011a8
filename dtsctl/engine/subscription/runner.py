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
from types import ModuleType
from typing import Any, Callable

from dtsctl.connectors import registry
from dtsctl.engine import lifecycle
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.errors import FatalError
from dtsctl.engine.interfaces import Source
from dtsctl.engine.keyspace import registry as keyspace
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.progress import Progress
from dtsctl.engine.reader import Reader
from dtsctl.engine.runner import Outcome
from dtsctl.engine.selection import TaskSpec
from dtsctl.engine.subscription import retention
from dtsctl.engine.subscription.delivery import Delivery, delivery_cursor
from dtsctl.engine.subscription.recorder import EVENTS, NEWEST_COMMIT_TIME, SOURCE_SEQ, Recorder
from dtsctl.engine.subscription.spec import SubscriptionSpec, store_path
from dtsctl.engine.subscription.store import SubscriptionStore

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.1
HEARTBEAT_SECONDS = 5.0
HOUSEKEEPING_SECONDS = 1.0

# store meta keys
PRECHECK_DONE = "precheck_done"
STARTED = "stream_started"


class SubscriptionRunner:
    def __init__(self, attributes: dict[str, Any], task_id: str, changelog_path: Path, progress: Progress,
                 stop: threading.Event, on_commit: Callable[[], None] = lambda: None) -> None:
        self.attributes = attributes
        self.task = TaskSpec.from_attributes(attributes, task_id)
        self.spec = SubscriptionSpec.from_attributes(attributes)
        self.changelog_path = changelog_path
        self.store_path = store_path(changelog_path.parent)
        self.progress = progress
        self.stop = stop
        self.on_commit = on_commit

    def _source(self) -> Source:
        endpoint = self.task.source_endpoint
        return registry.source_class(endpoint["engine"])(endpoint, self.task.task_id)

    def _reader(self, appended: threading.Event) -> Reader | KeyspaceReader:
        return Reader(self._source, self.changelog_path, self.progress, appended)

    def _recorder(self, store: SubscriptionStore, changelog: ChangeLog) -> Recorder:
        return Recorder(store, changelog)

    def _failed_prechecks(self) -> list[str]:
        checks = lifecycle.precheck(self.attributes, self.task.task_id)
        return [check.message for check in checks if not check.ok and not check.warning]

    def run(self) -> Outcome:
        source = self._source()
        store = SubscriptionStore(self.store_path)
        changelog: ChangeLog | None = None
        reader: Reader | KeyspaceReader | None = None
        delivery: Delivery | None = None
        try:
            source.check_connection()
            self.progress.set_error(None)
            self._precheck(store)
            store.sync_groups(self.spec.groups)
            changelog = ChangeLog(self.changelog_path)
            self._start_stream(changelog, source, store)
            appended = threading.Event()
            reader = self._reader(appended)
            reader.start()
            if self.spec.delivery_endpoint is not None and self.spec.delivery_stream:
                delivery = Delivery(self.store_path, self.spec.delivery_endpoint, self.spec.delivery_stream,
                                    self.progress)
                delivery.start()
            self.progress.set_phase("incremental")
            self._loop(self._recorder(store, changelog), reader, appended)
            return Outcome.STOPPED
        finally:
            for thread in (reader, delivery):
                if thread is not None:
                    thread.stop()
                    thread.join(timeout=30)
            if changelog is not None:
                changelog.close()
            store.close()
            source.close()

    def _precheck(self, store: SubscriptionStore) -> None:
        if store.get(PRECHECK_DONE):
            return
        self.progress.set_phase("precheck")
        failures = self._failed_prechecks()
        if failures:
            raise FatalError("precheck failed: " + "; ".join(failures))
        with store.transaction():
            store.set(PRECHECK_DONE, True)
        log.info("precheck passed")

    def _start_stream(self, changelog: ChangeLog, source: Source, store: SubscriptionStore) -> None:
        """A fresh task starts the stream where the source is now; a running one resumes."""
        emptied = changelog.bind(self.task.task_id)
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

    def _loop(self, recorder: Recorder, reader: Reader | KeyspaceReader, appended: threading.Event) -> None:
        store = recorder.store
        housekeeping_at = 0.0
        active_at = time.monotonic()
        while not self.stop.is_set():
            _raise_reader_error(reader)
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
                retention.enforce(store, self.spec.retention, time.time(), [] if cursor is None else [cursor])
                housekeeping_at = time.monotonic()
            caught_up = recorder.source_seq >= recorder.changelog.last_seq()
            self.progress.committed(self._checkpoint(recorder), caught_up=caught_up)
            if not recorded:
                appended.wait(IDLE_WAIT_SECONDS)
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

    @property
    def _support(self) -> ModuleType:
        return keyspace.subscription_support(self.task.source_endpoint["engine"])

    def _source(self) -> Any:
        return self._support.SubscriptionRedisSource(self.task)

    def _reader(self, appended: threading.Event) -> KeyspaceReader:
        return self._support.make_reader(self.task, self.changelog_path, self.progress, appended)

    def _recorder(self, store: SubscriptionStore, changelog: ChangeLog) -> Recorder:
        return self._support.KeyspaceRecorder(store, changelog, self.progress.set_phase)

    def _failed_prechecks(self) -> list[str]:
        return self._support.precheck(self.task)

    def _start_stream(self, changelog: ChangeLog, source: Any, store: SubscriptionStore) -> None:
        """A fresh task starts with a full resync (its RDB kept only with `full` in `phases`); a running
        one continues from the change log's position (PSYNC)."""
        emptied = changelog.bind(self.task.task_id)
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


def on_keyspace_source(attributes: dict[str, Any]) -> bool:
    """True for a subscription task whose source is a key-value engine."""
    return attributes.get("type") == "subscription" and keyspace.handles(attributes)


def runner_class(attributes: dict[str, Any]) -> type[SubscriptionRunner]:
    """The runner of a subscription task: by the kind of its source engine."""
    return KeyspaceSubscriptionRunner if on_keyspace_source(attributes) else SubscriptionRunner


def _raise_reader_error(reader: Reader | KeyspaceReader) -> None:
    if reader.error is not None:
        raise reader.error
    if not reader.is_alive():
        raise RuntimeError("the reader thread ended unexpectedly")
