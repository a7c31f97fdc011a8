"""One run of a document task: precheck (fresh task), then copy and stream until stopped.

As for the other pipelines, a run starts from the committed checkpoints. The change log
is trusted only when the destination's checkpoint says a copy was started through it;
otherwise (fresh task, lost change log, lost destination checkpoint, changed objects) the
log is emptied and the reader starts over: resume point first, then the copy.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.documents.applier import DocumentApplier, in_copy
from dtsctl.engine.documents.interfaces import DocumentSink
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.documents.reader import DocumentReader
from dtsctl.engine.errors import FatalError
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.progress import Progress
from dtsctl.engine.runner import PipelineRunner, stop_threads

if TYPE_CHECKING:
    from dtsctl.engine.documents.pipeline import DocumentPipeline

log = logging.getLogger(__name__)

SHARED_LOG = "a one-to-many topology from a MongoDB source is not supported yet: declare one task per destination"


class DocumentRunner(PipelineRunner):
    IDLE_WAIT_SECONDS = 0.05

    def __init__(self, pipeline: "DocumentPipeline", changelog_path: Path, progress: Progress,
                 stop: threading.Event, on_commit: Callable[[], None]) -> None:
        super().__init__(pipeline.spec, changelog_path, progress, stop, on_commit)
        self.connector = pipeline.connector

    def run(self) -> Outcome:
        if self.spec.shares_log:
            raise FatalError(SHARED_LOG)
        sink = self.connector.sink(self.spec)
        changelog: ChangeLog | None = None
        reader: DocumentReader | None = None
        try:
            cp, changelog = self._resume(self.connector, sink)
            appended = threading.Event()
            reader = DocumentReader(lambda: self.connector.source(self.spec), self.changelog_path, self.progress,
                                    appended, copy="full" in self.spec.phases, dropped_origin=self.spec.dropped_origin)
            reader.start()
            applier = DocumentApplier(sink, changelog, Selection(self.spec.objects), self.spec.throttle(self.stop),
                                      Conflicts(self.spec.conflict_policy), create_schema="schema" in self.spec.phases)

            def show_phase() -> None:
                phase = "full" if in_copy(cp) else "incremental"
                if phase != self.progress.phase:
                    self.progress.set_phase(phase)

            return self._apply_loop(applier, cp, changelog, reader, appended, each_round=show_phase,
                                    completed=lambda: not self.spec.incremental and not in_copy(cp))
        finally:
            stop_threads(reader)
            if changelog is not None:
                changelog.close()
            sink.close()

    def _trust_or_reset(self, changelog: ChangeLog, cp: Checkpoint, sink: DocumentSink) -> None:
        emptied = changelog.bind(self.spec.task_id)
        lost_log = bool(cp.tables) and (emptied or cp.applied_seq > changelog.last_seq())
        if lost_log and not in_copy(cp) and cp.source_position is not None:
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
        changelog.reset()
        cp.applied_seq, cp.tables, cp.replay_until_seq, cp.source_position = changelog.last_seq(), {}, None, None
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
