"""One run of a key-value task: precheck (fresh task), then snapshot and stream until stopped.

Like the table runner, a run starts from the committed checkpoints, so the
agent simply runs again after any failure. The change log is only trusted
when the destination's checkpoint says a snapshot was started through it;
otherwise (fresh task, lost change log, lost destination, changed objects) the
log is emptied and the reader starts over with a full resync. A new owner in the
cluster runtime, whose change log stayed on the former owner's host, reads the
source again from the checkpoint's `source_position` instead.
"""

from __future__ import annotations

import logging
import threading

from dtsctl.engine.applier_status import ApplierStatus
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.keyspace.applier import KeyspaceApplier, destination_name, in_snapshot
from dtsctl.engine.keyspace.conflicts import ConcurrentWrites
from dtsctl.engine.keyspace.interfaces import SNAPSHOT_BEGIN_PREFIX, Heartbeat, KeyspaceSink
from dtsctl.engine.keyspace.progress import HEARTBEAT_EVERY_SECONDS, KeyspaceProgress
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.origin import peer_changelog
from dtsctl.engine.peer_writes import PeerWrites
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.reader import ChangeLogReader
from dtsctl.engine.runner import ChangeLogRunner
from dtsctl.engine.worker import Worker

log = logging.getLogger(__name__)


class KeyspaceRunner(ChangeLogRunner):
    IDLE_WAIT_SECONDS = 0.05
    progress: KeyspaceProgress

    def _reader(self, appended: threading.Event) -> KeyspaceReader:
        return KeyspaceReader(lambda: self.connector.source(self.spec), self.changelog_path, self.progress,
                              appended, snapshot="full" in self.spec.phases, shared=self.spec.shares_log)

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
        if self._takes_over(emptied, cp) and current == wanted:
            # A new owner in the cluster runtime: the former owner's change log stayed on its host.
            log.info("reading the source again from the destination checkpoint's position %s",
                     self.connector.source(self.spec).describe_position(cp.source_position))
            changelog.reset()
            changelog.set_reader_position(cp.source_position)
            cp.applied_seq = changelog.last_seq()
            sink.save_checkpoint(cp.to_json())
            return
        if cp.tables:
            log.warning("%s: copying everything again (full resync)", reason)
        if shared:
            # Other destinations apply this log too: join at its latest snapshot (or have the reader copy again).
            cp.applied_seq = changelog.join_at_latest_copy(self.spec.task_id, SNAPSHOT_BEGIN_PREFIX)
            cp.tables = {}  # the records before the snapshot are not for this destination
        else:
            changelog.reset()
            cp.applied_seq = changelog.last_seq()
        sink.save_checkpoint(cp.to_json())

    def _takes_over(self, emptied: bool, cp: Checkpoint) -> bool:
        """True for a new owner (cluster runtime: a fencing token, and no change log of its own) of a
        task whose destination checkpoint says where the source stream resumes."""
        return (self.spec.fencing_token is not None and emptied and not self.spec.shares_log
                and bool(cp.tables) and cp.source_position is not None)

    def _concurrent_writes(self) -> ConcurrentWrites | None:
        peer = peer_changelog(self.changelog_path, self.spec.peer)
        if peer is None:
            return None
        return ConcurrentWrites(PeerWrites(peer), Conflicts(self.spec.conflict_policy), self.connector.keys_of,
                                self.connector.encode)

    def _applier_status(self, changelog: ChangeLog) -> ApplierStatus:
        """The applied position; for a destination of a one-to-many topology also its own checkpoint
        and lag, from the shared log."""
        return ApplierStatus(changelog, self.progress, self.connector.source(self.spec).describe_position,
                             shared=self.spec.shares_log,
                             also=lambda log: self.progress.heartbeat_read(log.heartbeat_seen()))

    def _stream(self, sink: KeyspaceSink, changelog: ChangeLog, reader: ChangeLogReader, appended: threading.Event,
                cp: Checkpoint, threads: list[Worker | ChangeLogReader]) -> Outcome:
        if self.spec.incremental:
            heartbeat = _HeartbeatThread(self.connector.heartbeat(self.spec), self.progress)
            heartbeat.start()
            threads.append(heartbeat)
        throttle = self.spec.throttle(self.stop)
        concurrent = self._concurrent_writes()
        repairer = self.connector.repairer(self.spec)
        applier = KeyspaceApplier(sink, changelog, throttle, Conflicts(self.spec.conflict_policy), self.connector.decode,
                                  self.connector.count, concurrent, repairer)

        def show_phase() -> None:
            phase = "full" if in_snapshot(cp) else "incremental"
            if phase != self.progress.phase:
                self.progress.set_phase(phase)

        try:
            return self._apply_loop(applier, cp, changelog, reader, appended, self._applier_status(changelog),
                                    each_round=show_phase,
                                    completed=lambda: not self.spec.incremental and not in_snapshot(cp))
        finally:
            repairer.close()
            if concurrent is not None:
                concurrent.close()


class _HeartbeatThread(Worker):
    """Writes the source heartbeat every second; its result says whether lag can be known."""

    def __init__(self, heartbeat: Heartbeat, progress: KeyspaceProgress) -> None:
        super().__init__("heartbeat")
        self._heartbeat = heartbeat
        self._progress = progress

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._progress.heartbeat_written(self._heartbeat.beat())
                self._halt.wait(HEARTBEAT_EVERY_SECONDS)
        finally:
            self._heartbeat.close()

    def stop(self) -> None:
        super().stop()
        self.join(timeout=5)

