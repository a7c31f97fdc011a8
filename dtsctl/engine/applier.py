"""The applier: change log -> sink, with filters, renames, dml selection and conflict policy.

Each batch of whole change-log transactions is applied in one destination
transaction together with the checkpoint naming its last sequence number.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.events import ChangeEvent, ConflictCounts, Position, RowChange, Transaction
from dtsctl.engine.filters import FilterEvaluator
from dtsctl.engine.interfaces import Sink, TableSchema
from dtsctl.engine.selection import TablePlan
from dtsctl.engine.throttle import Throttle

log = logging.getLogger(__name__)

MAX_TRANSACTIONS_PER_BATCH = 200
MAX_EVENTS_PER_BATCH = 5000


class Applier:
    def __init__(self, sink: Sink, changelog: ChangeLog, plans: list[TablePlan], schemas: dict[str, TableSchema],
                 conflict_policy: str, position_order: Callable[[Position], tuple[Any, ...]],
                 throttle: Throttle) -> None:
        self._sink = sink
        self._changelog = changelog
        self._plans = {plan.name: plan for plan in plans}
        self._schemas = schemas
        self._policy = conflict_policy
        self._order = position_order
        self._throttle = throttle
        self._filters = FilterEvaluator()
        self._keys = {(plan.dest_database, plan.dest_table): schemas[plan.name].key for plan in plans}

    def apply_next(self, cp: Checkpoint) -> int:
        """Apply the next batch from the change log; mutate `cp` to what was committed.
        Returns the number of change-log transactions applied (0: nothing new)."""
        batch = self._next_batch(cp.applied_seq)
        if not batch:
            return 0
        changes = [change for _, tx in batch for event in tx.events for change in self.changes_for(event, cp)]
        if self._throttle.limited:
            size = sum(len(tx.payload()) for _, tx in batch) if self._throttle.bytes.rate else 0
            self._throttle.wait(len(changes), size)
        last_seq, last_tx = batch[-1]

        def checkpoint_after(conflicts: ConflictCounts) -> dict[str, Any]:
            after = cp.copy()
            after.applied_seq = last_seq
            after.applied_commit_time = max(last_tx.commit_time, cp.applied_commit_time or 0.0)
            after.events_applied += len(changes)
            for op, count in conflicts.as_dict().items():
                after.conflicts.add(op, count)  # type: ignore[arg-type]
            return after.to_json()

        conflicts = self._sink.apply(changes, self._keys, checkpoint_after)
        committed = Checkpoint.from_json(checkpoint_after(conflicts))
        cp.__dict__.update(committed.__dict__)
        if any(conflicts.as_dict().values()):
            log.info("resolved conflicts under policy %s: %s", self._policy, conflicts.as_dict())
        return len(batch)

    def _next_batch(self, after_seq: int) -> list[tuple[int, Transaction]]:
        batch: list[tuple[int, Transaction]] = []
        events = 0
        for seq, tx in self._changelog.read(after_seq, MAX_TRANSACTIONS_PER_BATCH):
            if batch and events + len(tx.events) > MAX_EVENTS_PER_BATCH:
                break  # never split a transaction; a single large one still goes alone
            batch.append((seq, tx))
            events += len(tx.events)
        return batch

    def changes_for(self, event: ChangeEvent, cp: Checkpoint) -> list[RowChange]:
        """What the destination must do for `event`: nothing for tables no longer selected or
        ops not in `dml`; filters may turn an update into an insert or a delete."""
        plan = self._plans.get(f"{event.database}.{event.table}")
        if plan is None or event.op not in plan.dml:
            return []
        op = self._filters.route(plan.filter, event.op, event.before, event.after)
        if op is None:
            return []
        key = self._schemas[plan.name].key
        copy_end = cp.tables[plan.name].copy_end
        idempotent = copy_end is None or self._order(event.position) <= tuple(copy_end)
        policy = "idempotent" if idempotent else self._policy
        if op == "delete":
            image = event.before if event.before is not None else event.after
            assert image is not None
            return [RowChange(plan.dest_database, plan.dest_table, "delete", {k: image[k] for k in key}, None, policy)]  # type: ignore[arg-type]
        row = event.after
        assert row is not None
        identity = event.before if op == "update" and event.before is not None else row
        return [RowChange(plan.dest_database, plan.dest_table, op, {k: identity[k] for k in key}, row, policy)]  # type: ignore[arg-type]
