"""One run of a table task: precheck (fresh task), schema, full copy, then incremental until stopped."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dtsctl.engine.applier_status import ApplierStatus
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, TableProgress, load_after_precheck
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.errors import FatalError, PositionLost
from dtsctl.engine.origin import peer_changelog
from dtsctl.engine.peer_writes import PeerWrites
from dtsctl.engine.pipeline import Outcome
from dtsctl.engine.progress import Progress
from dtsctl.engine.runner import PipelineRunner, stop_threads, streamed_without_copy
from dtsctl.engine.tables import fullcopy
from dtsctl.engine.tables.applier import Applier
from dtsctl.engine.tables.chunk_writers import copy_writers
from dtsctl.engine.tables.interfaces import Sink, Source, TableSchema
from dtsctl.engine.tables.reader import Reader
from dtsctl.engine.tables.selection import TablePlan, databases_of, plan_for, resolve_tables
from dtsctl.engine.throttle import Throttle

if TYPE_CHECKING:
    from dtsctl.engine.tables.pipeline import TablePipeline

log = logging.getLogger(__name__)


class TaskRunner(PipelineRunner):
    def __init__(self, pipeline: "TablePipeline", changelog_path: Path, progress: Progress,
                 stop: threading.Event, on_commit: Callable[[], None]) -> None:
        super().__init__(pipeline.spec, changelog_path, progress, stop, on_commit)
        self.pipeline = pipeline
        self._reseeding = False  # the source lost the stream's position: copy everything again

    def _source(self) -> Source:
        return self.pipeline.source()

    def _stream_source(self) -> Source:
        """The reader's source, told which tables matter so it can drop the rest early. A shared
        log is read whole: which agent reads must not decide what another destination sees
        while a change of `objects` reaches the agents one by one."""
        source = self._source()
        if self.spec.shares_log:
            return source
        objects = self.spec.objects

        @functools.lru_cache(maxsize=4096)  # asked for every row event: `objects` does not change in a run
        def wanted(database: str, table: str) -> bool:
            return plan_for(objects, database, table) is not None

        source.restrict(wanted, databases_of(objects))
        if self.spec.dropped_origin is not None:
            source.drop_writes_of(self.spec.dropped_origin)
        return source

    def _sink(self) -> Sink:
        return self.pipeline.sink(self.spec.origin)

    def run(self) -> Outcome:
        """Run until stopped (or a migration completes). A source that no longer has the stream's
        position fails the task, unless it declares `on_position_lost: reseed` (and copies)."""
        while True:
            try:
                return self._run()
            except PositionLost as lost:
                if not self.spec.reseed_on_lost_position or "full" not in self.spec.phases:
                    raise
                log.warning("%s: copying everything again (on_position_lost: reseed)", lost.what)
                self._reseeding = True

    def _run(self) -> Outcome:
        source, sink = self._source(), self._sink()
        changelog: ChangeLog | None = None
        reader: Reader | None = None
        try:
            source.check_connection()
            sink.check_connection()
            self.progress.set_error(None)  # both ends answer again
            cp = self._checkpoint(sink)
            if self.spec.incremental and "full" not in self.spec.phases:
                # Nothing to copy: fix the stream's start before listing tables, so that a table
                # created in between is seen by its CREATE in the stream.
                changelog = ChangeLog(self.changelog_path)
                self._start_stream(changelog, source, sink, cp)
            plans, schemas = self._selection(source)
            self._reconcile(cp, plans, sink)
            if self._reseeding:
                self._reseed(cp, plans, sink)
            throttle = self.spec.throttle(self.stop)
            appended = threading.Event()
            if self.spec.incremental:
                if changelog is None:
                    changelog = ChangeLog(self.changelog_path)
                    self._start_stream(changelog, source, sink, cp)
                reader = Reader(self._stream_source, self.changelog_path, self.progress, appended,
                                shared=self.spec.shares_log)
                reader.start()
            copied = self._snapshot(source, sink, plans, schemas, cp, throttle, reader, changelog)
            source.close_snapshot()
            if not copied:
                return Outcome.STOPPED
            if changelog is None:
                self.progress.set_phase("done")
                return Outcome.COMPLETED
            assert reader is not None
            return self._stream(sink, changelog, reader, appended, plans, schemas, cp, throttle, source)
        finally:
            stop_threads(reader)
            if changelog is not None:
                changelog.close()
            source.close()
            sink.close()

    # -- start ----------------------------------------------------------------------
    def _checkpoint(self, sink: Sink) -> Checkpoint:
        """The committed checkpoint; a fresh task passes the precheck first. In the cluster runtime
        the former owner is fenced off first, so the checkpoint read is the last it could commit."""
        if self.spec.fencing_token is not None:
            sink.fence(self.spec.fencing_token)
        cp = load_after_precheck(sink, self.pipeline.precheck,
                                 lambda: self.progress.set_phase("precheck"),
                                 lambda: streamed_without_copy(self.spec, self.changelog_path))
        if self.spec.fencing_token is not None:
            cp.fencing_token = self.spec.fencing_token  # carried by every write from now on
        run = self.spec.run
        if run is not None and cp.run != run:
            cp.start_run(run)
            sink.save_checkpoint(cp.to_json())
        self.progress.committed(cp)
        return cp

    def _selection(self, source: Source) -> tuple[list[TablePlan], dict[str, TableSchema]]:
        """The selected tables and their schemas. The reverse of a two-way pair skips tables its
        source does not have yet: the forward direction creates them, and the reverse adopts
        each when its CREATE arrives in the stream."""
        plans = resolve_tables(self.spec.objects, source.list_tables)
        schemas = {}
        for plan in list(plans):
            schema = source.table_schema(plan.source_database, plan.source_table)
            if schema is None and self.spec.follows_peer:
                plans.remove(plan)
                continue
            if schema is None:
                raise FatalError(f"table {plan.name} no longer exists in the source; fix `objects` and apply")
            if not schema.key:
                raise FatalError(f"table {plan.name} has no primary key or unique NOT NULL key; add one")
            schemas[plan.name] = schema
        return plans, schemas

    def _reconcile(self, cp: Checkpoint, plans: list[TablePlan], sink: Sink) -> None:
        """Match table progress to the selection: new (or re-pointed) tables start over,
        removed ones are forgotten."""
        wanted = {plan.name: plan for plan in plans}
        changed = False
        for name in [name for name in cp.tables if name not in wanted]:
            log.info("table %s is no longer selected: its changes are no longer applied", name)
            del cp.tables[name]
            changed = True
        for name, plan in wanted.items():
            progress = cp.tables.get(name)
            if progress is None or progress.destination != plan.dest_name:
                if progress is not None:
                    log.info("table %s now goes to %s: copying it there", name, plan.dest_name)
                cp.tables[name] = TableProgress(destination=plan.dest_name)
                changed = True
        if changed:
            sink.save_checkpoint(cp.to_json())
            self.progress.committed(cp)

    def _reseed(self, cp: Checkpoint, plans: list[TablePlan], sink: Sink) -> None:
        """Start the copy and the stream over: the copied tables are emptied (rows deleted at the
        source meanwhile must go too), then copied again from a new stream start (`_start_stream`).
        Crash-safe: until the checkpoint is saved the stream fails again and this runs again."""
        for plan in plans:
            sink.empty_table(plan.dest_database, plan.dest_table)
            table = cp.tables[plan.name]
            table.copy_done, table.last_key, table.rows_copied, table.copy_end = False, None, 0, None
        cp.applied_seq, cp.stream_started, cp.source_position = 0, False, None
        cp.ddl_pending_seq = cp.replay_until_seq = None
        sink.save_checkpoint(cp.to_json())
        self.progress.committed(cp)
        self._reseeding = False

    def _start_stream(self, changelog: ChangeLog, source: Source, sink: Sink, cp: Checkpoint) -> None:
        """Fix the stream's start before the first snapshot read, so no change falls in a gap."""
        if self.spec.shares_log:
            return self._join_shared_log(changelog, source, sink, cp)
        emptied = changelog.bind(self.spec.task_id)
        has_position, _ = changelog.reader_position()
        nothing_copied = not any(t.copy_done or t.last_key is not None for t in cp.tables.values())
        # A task without a copy cannot start over once its stream started: the changes since
        # would be lost, where a copy would have read them.
        restartable = "full" in self.spec.phases or not cp.stream_started
        if nothing_copied and cp.applied_seq == 0 and restartable:
            # Everything committed so far will be read by the snapshot: start the stream here
            # (at the snapshot's own position when the source has consistent snapshots).
            changelog.reset()
            start = self.spec.start_position
            if start is None:
                start = source.open_snapshot()
            changelog.set_reader_position(start if start is not None else source.current_position())
            cp.stream_started = True
            cp.source_position = changelog.reader_position()[1]
            sink.save_checkpoint(cp.to_json())
        elif (emptied or not has_position) and self.spec.fencing_token is not None and cp.source_position is not None:
            # A new owner in the cluster runtime: the former owner's change log stayed on its host.
            log.info("reading the source again from the destination checkpoint's position %s",
                     source.describe_position(cp.source_position))
            changelog.reset()
            changelog.set_reader_position(cp.source_position)
            cp.applied_seq = changelog.last_seq()
            sink.save_checkpoint(cp.to_json())
        elif emptied or not has_position:
            raise FatalError(
                f"the change log {self.changelog_path} lost its position while the task was running; "
                "replace the task (destroy, then apply) to copy again"
            )

    def _join_shared_log(self, changelog: ChangeLog, source: Source, sink: Sink, cp: Checkpoint) -> None:
        """A destination of a one-to-many topology applies from the end of the shared log as it
        was when it joined; its snapshot, opened after, covers everything before."""
        changelog.bind(self.changelog_path.parent.name)
        if changelog.joined(self.spec.task_id):
            return
        nothing_copied = not any(t.copy_done or t.last_key is not None for t in cp.tables.values())
        if nothing_copied and cp.applied_seq == 0:
            cp.applied_seq = changelog.join(self.spec.task_id, source.current_position)
            cp.stream_started = True
            sink.save_checkpoint(cp.to_json())
        else:
            raise FatalError(
                f"the shared change log {self.changelog_path} no longer holds this destination's place; "
                "replace the task (destroy, then apply) to copy again"
            )

    # -- phases ---------------------------------------------------------------------
    def _snapshot(self, source: Source, sink: Sink, plans: list[TablePlan], schemas: dict[str, TableSchema],
                  cp: Checkpoint, throttle: Throttle, reader: Reader | None, changelog: ChangeLog | None) -> bool:
        """Schema and full copy of the tables that need them; False when stopped midway."""
        if "schema" in self.spec.phases and not all(cp.tables[p.name].schema_done for p in plans):
            self.progress.set_phase("schema")
            fullcopy.create_tables(sink, plans, schemas, cp, self.progress, copying="full" in self.spec.phases)
        pending = [plan for plan in plans if not cp.tables[plan.name].copy_done]
        if not pending:
            return True
        if "full" not in self.spec.phases:
            stream_start = changelog.reader_position()[1] if changelog is not None else None
            for plan in pending:
                table = cp.tables[plan.name]
                table.copy_done = True
                table.copy_end = list(source.position_order(stream_start)) if changelog is not None else None
            sink.save_checkpoint(cp.to_json())
            self.progress.committed(cp)
            return True
        self.progress.set_phase("full")
        with copy_writers(sink, self.spec.fencing_token) as sinks:
            for plan in pending:
                if not fullcopy.copy_table(source, sinks, plan, schemas[plan.name], cp, throttle, self.progress,
                                           self.stop, self.spec.incremental,
                                           keep_existing=self.spec.conflict_policy.keeps_destination):
                    return False
                self.on_commit()
                if reader is not None:
                    reader.check()
        return True

    def _stream(self, sink: Sink, changelog: ChangeLog, reader: Reader, appended: threading.Event,
                plans: list[TablePlan], schemas: dict[str, TableSchema], cp: Checkpoint, throttle: Throttle,
                source: Source) -> Outcome:
        status = ApplierStatus(changelog, self.progress, source.describe_position, shared=self.spec.shares_log)
        status.refresh(cp.applied_seq)  # a shared log's destination shows its own checkpoint before "incremental"
        self.progress.set_phase("incremental")
        peer_log = peer_changelog(self.changelog_path, self.spec.peer)
        peer = PeerWrites(peer_log) if peer_log is not None else None
        applier = Applier(sink, changelog, plans, schemas, Conflicts(self.spec.conflict_policy), source.position_order, throttle,
                          self.spec.objects, follow_unreplayed_ddl=self.spec.tags is not None, peer=peer)
        try:
            return self._apply_loop(applier, cp, changelog, reader, appended, status)
        finally:
            applier.close()
            if peer is not None:
                peer.close()

