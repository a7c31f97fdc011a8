"""One run of a document task: precheck (fresh task), then copy and stream until stopped.

As for the other pipelines, a run starts from the committed checkpoints. The change log
is trusted only when the destination's checkpoint says a copy was started through it;
otherwise (fresh task, lost change log, lost destination checkpoint, changed objects) the
log is emptied and the reader starts over: resume point first, then the copy.
"""

from __future__ import annotations

import logging
import threading

from dtsctl.engine.applier_status import ApplierStatus
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.documents.applier import DocumentApplier, in_copy
from dtsctl.engine.documents.changes import COPY_BEGIN_PREFIX
from dtsctl.engine.documents.interfaces import DocumentSink, DocumentSource
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.documents.reader import DocumentReader
from dtsctl.engine.errors import FatalError
from dtsctl.engine.origin import peer_changelog
from dtsctl.engine.peer_writes import PeerWrites
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.reader import ChangeLogReader
from dtsctl.engine.runner import ChangeLogRunner
from dtsctl.engine.worker import Worker

log = logging.getLogger(__name__)

class DocumentRunner(ChangeLogRunner):
    IDLE_WAIT_SECONDS = 0.05

    def _reader(self, appended: threading.Event) -> DocumentReader:
        return DocumentReader(lambda: self.connector.source(self.spec), self.changelog_path, self.progress,
                              appended, copy="full" in self.spec.phases, dropped_origin=self.spec.dropped_origin,
                              readable=self.connector.readable, shared=self.spec.shares_log)

    def _stream(self, sink: DocumentSink, changelog: ChangeLog, reader: ChangeLogReader, appended: threading.Event,
                cp: Checkpoint, threads: list[Worker | ChangeLogReader]) -> Outcome:
        peer_log = peer_changelog(self.changelog_path, self.spec.peer)
        peer = PeerWrites(peer_log) if peer_log is not None else None
        describer: DocumentSource = self.connector.source(self.spec)  # renders positions for status; never reads
        try:
            applier = DocumentApplier(sink, changelog, Selection(self.spec.objects), self.spec.throttle(self.stop),
                                      Conflicts(self.spec.conflict_policy), create_schema="schema" in self.spec.phases,
                                      peer=peer)

            def show_phase() -> None:
                phase = "full" if in_copy(cp) else "incremental"
                if phase != self.progress.phase:
                    self.progress.set_phase(phase)

            status = ApplierStatus(changelog, self.progress, describer.describe_position, shared=self.spec.shares_log)
            return self._apply_loop(applier, cp, changelog, reader, appended, status, each_round=show_phase,
                                    completed=lambda: not self.spec.incremental and not in_copy(cp))
        finally:
            describer.close()
            if peer is not None:
                peer.close()

    def _trust_or_reset(self, changelog: ChangeLog, cp: Checkpoint, sink: DocumentSink) -> None:
        shared = self.spec.shares_log
        emptied = changelog.bind(self.changelog_path.parent.name if shared else self.spec.task_id)
        lost_log = bool(cp.tables) and (emptied or cp.applied_seq > changelog.last_seq()
                                        or (shared and not changelog.joined(self.spec.task_id)))
        if lost_log and not shared and not in_copy(cp) and cp.source_position is not None:
            # The destination knows where its stream stands: continue from there, copying nothing again.
            log.warning("the change log %s was lost: resuming the change stream from the destination's checkpoint",
                        self.changelog_path)
            changelog.reset()
            changelog.set_reader_position(cp.source_position)
            cp.applied_seq, cp.replay_until_seq = changelog.last_seq(), None
            sink.save_checkpoint(cp.to_json())
            return
        reason = None
        if not cp.tables and cp.applied_seq == 0:
            reason = "no copy started yet"
        elif not cp.tables:
            reason = "the destination lost its checkpoint"
        elif lost_log:
            reason = f"the change log {self.changelog_path} was lost"
        elif _selection_changed(Selection(self.spec.objects), cp, copies="full" in self.spec.phases):
            reason = "the selected objects changed"
        if reason is None:
            return
        if cp.tables:
            if self.spec.tags is not None:
                raise FatalError(f"{reason}, and copying everything again onto the other side of a two-way pair "
                                 "would overwrite what was written there; destroy the topology and apply it again")
            log.warning("%s: copying everything again", reason)
        if shared:
            cp.applied_seq = changelog.join_at_latest_copy(self.spec.task_id, COPY_BEGIN_PREFIX)
        else:
            changelog.reset()
            cp.applied_seq = changelog.last_seq()
        cp.tables, cp.replay_until_seq, cp.source_position = {}, None, None
        sink.save_checkpoint(cp.to_json())


def _selection_changed(selection: Selection, cp: Checkpoint, copies: bool) -> bool:
    """True when a copied collection is no longer selected or goes elsewhere, or (for a task that
    copies) a newly listed one was never copied."""
    for namespace, table in cp.tables.items():
        database, _, collection = namespace.partition(".")
        if not selection.wanted(database, collection) or \
                ".".join(selection.destination(database, collection)) != table.destination:
            return True
    listed = {f"{database}.{name}" for database in selection.databases for name in selection.collections(database) or ()}
    return copies and bool(listed - set(cp.tables))
