"""One run of a key-value task: precheck (fresh task), then snapshot and stream until stopped.

Like the table runner, a run starts from the committed checkpoints, so the
agent simply runs again after any failure. The change log is only trusted
when the destination's checkpoint says a snapshot was started through it;
otherwise (fresh task, lost change log, lost destination, changed objects) the
log is emptied and the reader starts over with a full resync.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, load_after_precheck
from dtsctl.engine.keyspace import registry
from dtsctl.engine.keyspace.applier import KeyspaceApplier, destination_name, in_snapshot
from dtsctl.engine.keyspace.conflicts import ConcurrentWrites
from dtsctl.engine.keyspace.interfaces import SNAPSHOT_BEGIN_PREFIX, Heartbeat, KeyspaceSink
from dtsctl.engine.keyspace.progress import HEARTBEAT_EVERY_SECONDS, KeyspaceProgress
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.origin import peer_changelog
from dtsctl.engine.peer_writes import PeerWrites
from dtsctl.engine.runner import Outcome, release, streamed_without_copy
from dtsctl.engine.selection import TaskSpec
from dtsctl.engine.shared_status import SharedLogStatus

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 0.05
TRIM_EVERY_SECONDS = 1.0


class KeyspaceRunner:
    def __init__(self, attributes: dict[str, Any], task_id: str, changelog_path: Path, progress: KeyspaceProgress,
                 stop: threading.Event, on_commit: Callable[[], None] = lambda: None) -> None:
        self.attributes = attributes
        self.spec = TaskSpec.from_attributes(attributes, task_id)
        self.connector = registry.connector(self.spec.source_endpoint["engine"])
        self.changelog_path = changelog_path
        self.progress = progress
        self.stop = stop
        self.on_commit = on_commit

    def run(self) -> Outcome:
        sink = self.connector.sink(self.spec)
        changelog: ChangeLog | None = None
        reader: KeyspaceReader | None = None
        heartbeat: _HeartbeatThread | None = None
        try:
            self.connector.source(self.spec).check_connection()
            sink.check_connection()
            self.progress.set_error(None)  # both ends answer again
            cp = self._checkpoint(sink)
            changelog = ChangeLog(self.changelog_path)
            self._trust_or_reset(changelog, cp, sink)
            appended = threading.Event()
            reader = KeyspaceReader(lambda: self.connector.source(self.spec), self.changelog_path, self.progress,
                                    appended, snapshot="full" in self.spec.phases, shared=self.spec.shares_log)
            reader.start()
            if self.spec.incremental:
                heartbeat = _HeartbeatThread(self.connector.heartbeat(self.spec), self.progress)
                heartbeat.start()
            return self._apply(sink, changelog, reader, appended, cp)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            if reader is not None:
                reader.stop()
                reader.join(timeout=30)
            if changelog is not None:
                changelog.close()
            sink.close()

    def _checkpoint(self, sink: KeyspaceSink) -> Checkpoint:
        cp = load_after_precheck(sink, lambda: self.connector.precheck(self.spec),
                                 lambda: self.progress.set_phase("precheck"),
                                 lambda: streamed_without_copy(self.spec, self.changelog_path))
        self.progress.committed(cp)
        return cp

    def _trust_or_reset(self, changelog: ChangeLog, cp: Checkpoint, sink: KeyspaceSink) -> None:
        shared = self.spec.shares_log
        emptied = changelog.bind(self.changelog_path.parent.name if shared else self.spec.task_id)
        wanted = {f"db{selection['database']}": destination_name(
            selection["database"] if selection.get("rename") is None else selection["rename"],
            selection.get("key_prefixes")) for selection in self.spec.objects}
        current = {name: table.destination for name, table in cp.tables.items()}
        reason = None
        if not cp.tables:
            reason = "no snapshot applied yet" if cp.applied_seq == 0 else "the destination lost its checkpoint"
        elif emptied or cp.applied_seq > changelog.last_seq() or (shared and not changelog.joined(self.spec.task_id)):
            reason = f"the change log {self.changelog_path} was lost"
        elif current != wanted:
            reason = "the selected databases changed"
        if reason is None:
            return
        if cp.tables:
            log.warning("%s: copying everything again (full resync)", reason)
        if shared:
            # Other destinations apply this log too. Join where its latest snapshot begins while
            # the log still holds it; otherwise at its end, and unless the first snapshot is still
            # to come, have the reader copy everything again (for every destination).
            snapshot = changelog.latest_starting_with(SNAPSHOT_BEGIN_PREFIX)
            streaming, _ = changelog.reader_position()
            cp.applied_seq = changelog.join(self.spec.task_id, after_seq=None if snapshot is None else snapshot - 1)
            cp.tables = {}  # the records before the snapshot are not for this destination
            if snapshot is None and streaming:
                changelog.request_resync()
        else:
            changelog.reset()
            cp.applied_seq = changelog.last_seq()
        sink.save_checkpoint(cp.to_json())

    def _concurrent_writes(self) -> ConcurrentWrites | None:
        peer = peer_changelog(self.changelog_path, self.attributes)
        if peer is None:
            return None
        return ConcurrentWrites(PeerWrites(peer), self.spec.conflict_policy, self.connector.keys_of,
                                self.connector.encode)

    def _shared_status(self, changelog: ChangeLog) -> SharedLogStatus | None:
        """For a destination of a one-to-many topology: its own checkpoint and lag, from the shared log."""
        if not self.spec.shares_log:
            return None
        return SharedLogStatus(changelog, self.progress, self.connector.source(self.spec).describe_position,
                               also=lambda log: self.progress.heartbeat_read(log.heartbeat_seen()))

    def _apply(self, sink: KeyspaceSink, changelog: ChangeLog, reader: KeyspaceReader, appended: threading.Event,
               cp: Checkpoint) -> Outcome:
        throttle = self.spec.throttle(self.stop)
        concurrent = self._concurrent_writes()
        repairer = self.connector.repairer(self.spec)
        applier = KeyspaceApplier(sink, changelog, throttle, self.spec.conflict_policy, concurrent, repairer)
        shared = self._shared_status(changelog)
        trimmed_at = 0.0
        try:
            while not self.stop.is_set():
                phase = "full" if in_snapshot(cp) else "incremental"
                if phase != self.progress.phase:
                    self.progress.set_phase(phase)
                _raise_reader_error(reader)
                if shared is not None:
                    shared.refresh(cp.applied_seq)
                if time.monotonic() - trimmed_at >= TRIM_EVERY_SECONDS:
                    release(changelog, self.spec, cp.applied_seq)
                    applier.forget_old_writes()
                    trimmed_at = time.monotonic()
                if applier.apply_next(cp):
                    self.progress.committed(cp, caught_up=cp.applied_seq >= changelog.last_seq())
                    self.on_commit()
                    continue
                if not self.spec.incremental and not in_snapshot(cp):
                    self.progress.set_phase("done")
                    return Outcome.COMPLETED
                self.progress.committed(cp, caught_up=True)
                appended.wait(IDLE_WAIT_SECONDS)
                appended.clear()
            return Outcome.STOPPED
        finally:
            repairer.close()
            if concurrent is not None:
                concurrent.close()


class _HeartbeatThread(threading.Thread):
    """Writes the source heartbeat every second; its result says whether lag can be known."""

    def __init__(self, heartbeat: Heartbeat, progress: KeyspaceProgress) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self._heartbeat = heartbeat
        self._progress = progress
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._progress.heartbeat_written(self._heartbeat.beat())
                self._halt.wait(HEARTBEAT_EVERY_SECONDS)
        finally:
            self._heartbeat.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _raise_reader_error(reader: KeyspaceReader) -> None:
    if reader.error is not None:
        raise reader.error
    if not reader.is_alive():
        raise RuntimeError("the reader thread ended unexpectedly")
