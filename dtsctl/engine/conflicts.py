"""The conflict policy: what happens when a change meets the destination in an unexpected state.

One enum travels in the task's spec; one `Conflicts` object per applier decides, and
sinks call it when a change meets a row that exists (insert) or is missing (update,
delete). Two-way pairs also call it for a write concurrent with one made on the
destination (dtsctl.engine.peer_writes).
"""

from __future__ import annotations

import enum
import logging

from dtsctl.engine.errors import ConflictError, FatalError
from dtsctl.engine.events import ConflictCounts, RowChange, format_key

log = logging.getLogger(__name__)

_ROW_STATE = {"insert": "already exists", "update": "is missing", "delete": "is missing"}


class ConflictPolicy(enum.Enum):
    FAIL = "fail"  # stop the task, naming the row
    IGNORE = "ignore"  # keep what the destination holds
    OVERWRITE = "overwrite"  # the incoming change wins

    @property
    def keeps_destination(self) -> bool:
        """Values already on the destination stay (also those a full copy meets)."""
        return self is ConflictPolicy.IGNORE


class Conflicts:
    """The applier-side decision under one policy, for every conflict a pipeline meets."""

    def __init__(self, policy: ConflictPolicy) -> None:
        self.policy = policy

    def row(self, change: RowChange, counts: ConflictCounts) -> bool:
        """A sink's change met an unexpected destination row: raise ConflictError under `fail`,
        else count it; True when the sink must write the incoming row anyway (overwrite)."""
        if self.policy is ConflictPolicy.FAIL:
            raise ConflictError(change.op, f"{change.database}.{change.table}", change.key)
        counts.add(change.op)
        incoming_wins = self.policy is ConflictPolicy.OVERWRITE and change.op != "delete"
        log.info("conflict: %s on %s.%s key %s %s; %s (conflict_policy %s)", change.op, change.database,
                 change.table, format_key(change.key), _ROW_STATE[change.op],
                 "the incoming change wins" if incoming_wins else "the destination row is kept", self.policy.value)
        return incoming_wins

    def concurrent(self, what: str, kept: str = "the destination row is kept") -> bool:
        """A change concurrent with a write made on the destination (`what` says which): raise
        FatalError under `fail`; True when the incoming change is applied."""
        if self.policy is ConflictPolicy.FAIL:
            raise FatalError(f"{what}; conflict_policy is fail")
        if self.policy.keeps_destination:
            log.warning("%s; %s (conflict_policy %s)", what, kept, self.policy.value)
            return False
        log.warning("%s; the incoming change wins (conflict_policy %s)", what, self.policy.value)
        return True
