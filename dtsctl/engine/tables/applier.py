"""The applier: change log -> sink, with filters, renames, dml selection and conflict policy.

Each batch of whole change-log transactions is applied in one destination
transaction together with the checkpoint naming its last sequence number.

A transaction holding DDL is applied on its own: DDL commits by itself on most
engines, so the checkpoint first records it as pending, and a restart replays it
tolerating "already done". CREATE/RENAME/DROP change the selection as they go.

Where a server applies what the sink sends, the next batch is read meanwhile (`BatchReadAhead`).

A batch whose changes the destination would get exactly as the source made them (no filter,
dml selection or two-way peer; past the full copy's hand-over; renames are the sink's to
apply) and whose transactions carry their source's own encoding goes to `Sink.apply_native`
first: a destination of the source's engine applies it itself (for MySQL, the source's row
events), or declines and the batch goes as changes.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.events import ChangeEvent, ConflictCounts, Position, RowChange, Transaction, format_key
from dtsctl.engine.tables.filters import FilterEvaluator
from dtsctl.engine.tables.read_ahead import BatchReadAhead
from dtsctl.engine.tables.interfaces import Sink, TableSchema
from dtsctl.engine.peer_writes import CONCURRENT_WRITE, PeerWrites, peer_seen_of, resolve_concurrent, row_key
from dtsctl.engine.tables.selection import TablePlan, plan_for
from dtsctl.engine.throttle import Throttle

log = logging.getLogger(__name__)

# A destination transaction holds up to this many source transactions (its BEGIN, checkpoint
# and COMMIT are shared by them) and events.
MAX_TRANSACTIONS_PER_BATCH = 2000
MAX_EVENTS_PER_BATCH = 5000
READ_PAGE = 250


class Applier:
    def __init__(self, sink: Sink, changelog: ChangeLog, plans: list[TablePlan], schemas: dict[str, TableSchema],
                 conflicts: Conflicts, position_order: Callable[[Position], tuple[Any, ...]],
                 throttle: Throttle, objects: tuple[dict[str, Any], ...] = (),
                 follow_unreplayed_ddl: bool = False, peer: PeerWrites | None = None) -> None:
        """`peer`: for a direction of a two-way pair, the writes made on the destination that the
        other direction read; a change concurrent with one of them is a conflict."""
        self._sink = sink
        self._peer = peer
        self._changelog = changelog
        self._plans = {plan.name: plan for plan in plans}
        self._schemas = schemas
        self._conflicts = conflicts
        self._order = position_order
        self._throttle = throttle
        self._filters = FilterEvaluator()
        self._keys = {(plan.dest_database, plan.dest_table): schemas[plan.name].key for plan in plans}
        self._objects = objects
        # The reverse direction of a two-way pair does not replay DDL (the forward direction
        # already made the same change on both ends) but must still follow what it does to
        # the selection: tables created, renamed, dropped, keys changed.
        self._follow_unreplayed_ddl = follow_unreplayed_ddl
        self._read_ahead = BatchReadAhead(changelog.path, _next_batch) if sink.applies_elsewhere else None

    def close(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead.close()

    def apply_next(self, cp: Checkpoint) -> int:
        """Apply the next batch from the change log; mutate `cp` to what was committed.
        Returns the number of change-log transactions applied (0: nothing new)."""
        ahead = self._read_ahead
        batch = (ahead.take(cp.applied_seq) if ahead is not None else None) or _next_batch(self._changelog,
                                                                                           cp.applied_seq)
        if not batch:
            return 0
        if ahead is not None:
            ahead.start(batch[-1][0])
        if batch[0][1].summary().has_ddl:
            self._apply_ddl(*batch[0], cp)
            return 1
        native = self._native(batch, cp)
        if native is not None:
            natives, names, columns = native
            events = sum(tx.summary().count for _, tx in batch)
            self._throttle_batch(batch, events)
            after = self._checkpoint_after(cp, batch, events, ConflictCounts())
            if self._sink.apply_native(natives, names, columns, after):
                cp.__dict__.update(Checkpoint.from_json(after).__dict__)
                return len(batch)
        changes = [(tx, change) for _, tx in batch for event in tx.events for change in self.changes_for(event, cp)]
        changes, concurrent = self._resolve_concurrent(changes)
        if native is None:
            self._throttle_batch(batch, len(changes))

        def checkpoint_after(conflicts: ConflictCounts) -> dict[str, Any]:
            return self._checkpoint_after(cp, batch, len(changes), conflicts, concurrent)

        conflicts = self._sink.apply(changes, self._keys, checkpoint_after, self._conflicts)
        committed = Checkpoint.from_json(checkpoint_after(conflicts))
        cp.__dict__.update(committed.__dict__)
        if any(conflicts.as_dict().values()):
            log.info("resolved conflicts under policy %s: %s", self._conflicts.policy.value, conflicts.as_dict())
        return len(batch)

    def _throttle_batch(self, batch: list[tuple[int, Transaction]], changes: int) -> None:
        if self._throttle.limited:
            size = sum(len(tx.payload()) for _, tx in batch) if self._throttle.bytes.rate else 0
            self._throttle.wait(changes, size)

    def _checkpoint_after(self, cp: Checkpoint, batch: list[tuple[int, Transaction]], changes: int,
                          *found: ConflictCounts) -> dict[str, Any]:
        """The checkpoint once `batch` (`changes` changes, `found` conflicts) is applied."""
        last_seq, last_tx = batch[-1]
        after = cp.copy()
        after.applied_seq = last_seq
        after.source_position = last_tx.position
        after.applied_commit_time = max(last_tx.commit_time, cp.applied_commit_time or 0.0)
        after.events_applied += changes
        _extend_copy_ends(after, batch, self._order)
        for counts in found:
            for op, count in counts.as_dict().items():
                after.conflicts.add(op, count)  # type: ignore[arg-type]
        return after.to_json()

    def _native(self, batch: list[tuple[int, Transaction]], cp: Checkpoint) -> tuple[
            list[Any], dict[tuple[str, str], tuple[str, str]], dict[tuple[str, str], tuple[str, ...]]] | None:
        """The batch's native encodings, the destination names of the tables they write and those
        tables' columns, when applying them is what applying their changes would do: every change
        goes unfiltered to a table past its copy's hand-over; no two-way peer checks. None otherwise."""
        if self._peer is not None:
            return None
        natives = []
        names: dict[tuple[str, str], tuple[str, str]] = {}
        columns: dict[tuple[str, str], tuple[str, ...]] = {}
        for _, tx in batch:
            summary = tx.summary()  # the events themselves are never built on this path
            if not summary.count:
                continue  # a position past changes not selected
            if tx.native is None or summary.has_repair:
                return None
            natives.append(tx.native)
            for table, changes in summary.tables.items():
                plan = self._plans.get(f"{table[0]}.{table[1]}")
                if plan is None or not changes.ops.issubset(plan.dml) or plan.filter is not None:
                    return None
                if table not in names:  # a table's first change in the batch is its oldest
                    copy_end = cp.tables[plan.name].copy_end
                    if copy_end is None or self._order(changes.first_position) <= tuple(copy_end):
                        return None
                    names[table] = (plan.dest_database, plan.dest_table)
                    columns[names[table]] = changes.columns
        return (natives, names, columns) if natives else None

    def _resolve_concurrent(self, changes: list[tuple[Transaction, RowChange]]
                            ) -> tuple[list[RowChange], ConflictCounts]:
        """Drop (ignore), force (overwrite) or refuse (fail) each change whose row was also written
        on the destination by a change its source had not received (dtsctl.engine.peer_writes)."""
        found = ConflictCounts()

        def seen_and_key(item: tuple[Transaction, RowChange]) -> tuple[int | None, bytes]:
            tx, change = item
            return peer_seen_of(tx.position), row_key(change.database, change.table, list(change.key.values()))

        def on_clash(item: tuple[Transaction, RowChange]) -> tuple[Transaction, RowChange] | None:
            tx, change = item
            found.add(change.op)
            table = f"{change.database}.{change.table}"
            what = f"conflict: {change.op} of {table} key {format_key(change.key)} {CONCURRENT_WRITE}"
            if not self._conflicts.concurrent(what):
                return None
            return tx, dataclasses.replace(change, replay=True)  # counted here, not again by the sink

        return [change for _, change in resolve_concurrent(self._peer, changes, seen_and_key, on_clash)], found

    def forget_old_writes(self) -> None:
        """Trim the keys this direction's reader recorded to what the peer may still need."""
        if self._peer is not None:
            self._peer.forget_own_writes(self._changelog)

    # -- DDL ------------------------------------------------------------------------
    def _apply_ddl(self, seq: int, tx: Transaction, cp: Checkpoint) -> None:
        replay = cp.ddl_pending_seq == seq
        if not replay:
            cp.ddl_pending_seq = seq
            self._sink.save_checkpoint(cp.to_json())
        ddl_events = [event for event in tx.events if event.op == "ddl"]
        for index, event in enumerate(ddl_events):
            after = cp.copy()
            if index == len(ddl_events) - 1:
                after.applied_seq = seq
                after.source_position = tx.position
                after.ddl_pending_seq = None
                after.applied_commit_time = max(tx.commit_time, cp.applied_commit_time or 0.0)
            self._apply_ddl_event(event, after, replay)
            cp.__dict__.update(after.__dict__)

    def _apply_ddl_event(self, event: ChangeEvent, cp: Checkpoint, replay: bool) -> None:
        """Replay one DDL event if its table is selected with `ddl` on; update plans, keys and
        progress in `cp`, which the sink stores right after the statement."""
        change = event.ddl
        assert change is not None
        name = f"{event.database}.{event.table}"
        plan = self._plans.get(name)
        created = None
        if plan is None and change.kind == "create":
            plan = created = plan_for(self._objects, event.database, event.table)
        if plan is None or not (plan.ddl or self._follow_unreplayed_ddl):
            if plan is not None:
                log.info("not replicating %s TABLE on %s (ddl is off for it)", change.kind.upper(), name)
            self._sink.save_checkpoint(cp.to_json())
            return
        progress = cp.tables.get(plan.name)
        copy_end = progress.copy_end if progress is not None else None
        replay = replay or (progress is not None and (copy_end is None or self._order(event.position) <= tuple(copy_end)))
        new_plan = None
        if created is not None:
            self._select(plan, change.key, cp, TableProgress(
                destination=plan.dest_name, schema_done=True, copy_done=True,
                copy_end=list(self._order(event.position))))
        elif change.kind == "rename":
            assert change.new_table is not None
            new_plan = plan_for(self._objects, event.database, change.new_table)
            moved = cp.tables.pop(plan.name, None)
            self._unselect(plan)
            if new_plan is not None and moved is not None:
                self._select(new_plan, change.key or self._schemas[plan.name].key, cp,
                             dataclasses.replace(moved, destination=new_plan.dest_name))
        elif change.kind == "drop":
            cp.tables.pop(plan.name, None)
            self._unselect(plan)
        elif change.kind == "alter" and change.key:
            self._set_key(plan, change.key)
        if not plan.ddl:
            log.info("following %s TABLE on %s without replaying it (ddl is off for it)", change.kind.upper(), name)
            self._sink.save_checkpoint(cp.to_json())
            return
        new_table = (new_plan.dest_table if new_plan is not None else change.new_table) if change.kind == "rename" else None
        self._sink.apply_ddl(change, plan.dest_database, plan.dest_table, new_table, replay, cp.to_json())
        if change.kind != "drop":
            self._adopt_destination_key(new_plan if change.kind == "rename" else plan)

    def _adopt_destination_key(self, plan: TablePlan | None) -> None:
        """The key of a table a replayed DDL created or changed, as the destination now has it: the
        source's at this point of the stream. The reader's (`SchemaChange.key`) was read from the
        source when it read the statement, which may since have renamed, dropped or altered it."""
        if plan is None or plan.name not in self._plans:
            return
        key = self._sink.table_key(plan.dest_database, plan.dest_table)
        if key:
            self._set_key(plan, key)

    def _set_key(self, plan: TablePlan, key: tuple[str, ...]) -> None:
        self._keys[(plan.dest_database, plan.dest_table)] = key
        self._schemas[plan.name] = dataclasses.replace(self._schemas[plan.name], key=key)

    def _select(self, plan: TablePlan, key: tuple[str, ...], cp: Checkpoint, progress: TableProgress) -> None:
        schema = self._schemas.get(plan.name) or TableSchema(plan.source_database, plan.source_table, (), key)
        self._plans[plan.name] = plan
        self._schemas[plan.name] = dataclasses.replace(schema, name=plan.source_table, key=key or schema.key)
        self._keys[(plan.dest_database, plan.dest_table)] = self._schemas[plan.name].key
        cp.tables[plan.name] = progress

    def _unselect(self, plan: TablePlan) -> None:
        self._plans.pop(plan.name, None)
        self._keys.pop((plan.dest_database, plan.dest_table), None)

    def changes_for(self, event: ChangeEvent, cp: Checkpoint) -> list[RowChange]:
        """What the destination must do for `event`: nothing for tables no longer selected or
        ops not in `dml`; filters may turn an update into an insert or a delete."""
        name = f"{event.database}.{event.table}"  # the plan's name
        plan = self._plans.get(name)
        if plan is None or event.op not in plan.dml:  # DDL events never reach here (op "ddl")
            return []
        op = self._filters.route(plan.filter, event.op, event.before, event.after)
        if op is None:
            return []
        key = self._schemas[name].key
        copy_end = cp.tables[name].copy_end
        replay = event.repair or copy_end is None or self._order(event.position) <= tuple(copy_end)
        if op == "delete":
            image = event.before if event.before is not None else event.after
            assert image is not None
            return [RowChange(plan.dest_database, plan.dest_table, "delete", {k: image[k] for k in key}, None, replay)]
        row = event.after
        assert row is not None
        identity = event.before if op == "update" and event.before is not None else row
        return [RowChange(plan.dest_database, plan.dest_table, op, {k: identity[k] for k in key}, row, replay)]


def _next_batch(changelog: ChangeLog, after_seq: int) -> list[tuple[int, Transaction]]:
    """Whole transactions for one destination transaction, read a page at a time so that
    records past the batch's end are not decoded for nothing."""
    batch: list[tuple[int, Transaction]] = []
    events = 0
    while len(batch) < MAX_TRANSACTIONS_PER_BATCH:
        wanted = min(READ_PAGE, MAX_TRANSACTIONS_PER_BATCH - len(batch))
        page = changelog.read(after_seq, wanted)
        for seq, tx in page:
            summary = tx.summary()
            if batch and (events + summary.count > MAX_EVENTS_PER_BATCH or summary.has_ddl):
                return batch  # never split a transaction; a single large one still goes alone
            batch.append((seq, tx))
            events += summary.count
            if summary.has_ddl:
                return batch  # DDL goes alone
            if summary.has_repair:
                return batch  # later changes see the copy end it extends (_extend_copy_ends)
        if len(page) < wanted:
            break  # the end of the log
        after_seq = page[-1][0]
    return batch


def _extend_copy_ends(cp: Checkpoint, batch: list[tuple[int, Transaction]],
                      order: Callable[[Position], tuple[Any, ...]]) -> None:
    """A repair wrote its rows as the source held them at its events' position: changes up to that
    position that the reader appends after it are already in them, and are applied idempotently
    like changes a full copy may hold (a repair is a small copy)."""
    for _, tx in batch:
        if not tx.summary().has_repair:
            continue
        for event in tx.events:
            if not event.repair:
                continue
            progress = cp.tables.get(f"{event.database}.{event.table}")
            if progress is not None and progress.copy_end is not None:
                progress.copy_end = max(progress.copy_end, list(order(event.position)))
