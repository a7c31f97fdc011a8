"""The typed task specification the engine acts on.

The runtime builds it from what the declaration model that wrote a task's
attributes reads of them (dtsctl.runtime.lifecycle.declaration and task_spec);
the declaration's defaults are the constants below.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.origin import PairTags
from dtsctl.engine.throttle import Throttle

ALL_PHASES = ("schema", "full", "incremental")
ALL_DML = ("insert", "update", "delete")
CONNECTION_RETRY_MINUTES = 720


@dataclass(frozen=True)
class TaskSpec:
    """What the engine needs of a task, typed."""

    task_id: str
    type: str
    phases: tuple[str, ...]
    objects: tuple[dict[str, Any], ...]
    conflict_policy: ConflictPolicy
    rps: float
    mbps: float
    throttle_windows: tuple[dict[str, Any], ...]  # as declared: {"from", "to", "rps", "mbps"}
    throttle_timezone: str
    connection_minutes: float
    source_endpoint: dict[str, Any]
    destination_endpoint: dict[str, Any] | None
    tags: PairTags | None = None  # set for a direction of a two-way pair
    peer: str | None = None  # with `tags`: the address of the pair's other direction
    shares_log: bool = False  # a destination of a one-to-many topology: one reader, one change log
    run: str | None = None  # a scheduled migration's run: a new one starts the copy over
    # Set by the cluster runtime (dtsctl.cluster): the owner's fencing token, written with every
    # checkpoint; a lost change log is then read again from the checkpoint's source position.
    fencing_token: int | None = None
    # The source no longer has the position the stream resumes from (binlog purged, backlog
    # overwritten): copy everything again rather than fail (`on_position_lost: reseed`)
    reseed_on_lost_position: bool = False
    # Where a fresh stream starts instead of the source's position at start (a cutover's reverse
    # task: its source's position at the switch)
    start_position: Any = None

    def throttle(self, stop: threading.Event) -> Throttle:
        """The task's throttle, following its windows."""
        return Throttle(self.rps, self.mbps, stop, self.throttle_windows, self.throttle_timezone)

    @property
    def incremental(self) -> bool:
        return "incremental" in self.phases

    @property
    def follows_peer(self) -> bool:
        """The reverse of a two-way pair: it copies nothing, and its tables are created on its
        source by the forward direction's copy, possibly after it starts."""
        return self.tags is not None and "full" not in self.phases

    @property
    def origin(self) -> str | None:
        """The tag this task's applier writes with every transaction, if it is part of a pair."""
        return self.tags.own if self.tags else None

    @property
    def dropped_origin(self) -> str | None:
        """The tag whose transactions this task's reader drops: its peer's."""
        return self.tags.peer if self.tags else None


def shares_change_log(attributes: dict[str, Any]) -> bool:
    """The destinations of a one-to-many topology read their source once, into one change log."""
    return (attributes.get("topology") or {}).get("type") == "one-to-many"
