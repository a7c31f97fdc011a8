"""What a plan is made of: one change per resource, plus the drift that was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dtsctl.state import sensitive

NO_OP = ["no-op"]
CREATE = ["create"]
UPDATE = ["update"]
REPLACE = ["delete", "create"]
DELETE = ["delete"]
CUTOVER = ["cutover"]  # switch to the destination (dtsctl.orchestrate.cutover)

# `action_reason` values (Terraform's where one fits).
REPLACE_BECAUSE_CANNOT_UPDATE = "replace_because_cannot_update"
DELETE_BECAUSE_NO_RESOURCE_CONFIG = "delete_because_no_resource_config"
UPDATE_BECAUSE_AGENT_UNHEALTHY = "update_because_agent_unhealthy"

SENSITIVE_DISPLAY = sensitive.SENSITIVE_DISPLAY


@dataclass(frozen=True)
class Observation:
    """What the runtime saw of a task's agent. A deliberately paused task is healthy."""

    address: str
    healthy: bool
    reason: str | None = None


@dataclass
class ResourceChange:
    """The action for one resource. `before`/`after` are display-safe: secrets read "(sensitive value)"."""

    address: str
    type: str
    name: str
    actions: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    action_reason: str | None = None
    reasons: list[str] = field(default_factory=list)
    replace_paths: list[str] = field(default_factory=list)
    changed_paths: list[str] = field(default_factory=list)
    drift: bool = False
    # One entry per changed path, display-safe, for the human plan:
    # {"path": str, "symbol": "+" | "-" | "~", "before": value, "after": value, "forces_replacement": bool}
    attribute_changes: list[dict[str, Any]] = field(default_factory=list)
    # The tasks whose destination this one reads: apply waits for their schema phase first.
    reads_from: list[str] = field(default_factory=list)
    # A cutover: the steps apply takes, and the reverse task it creates (if any).
    steps: list[str] = field(default_factory=list)
    reverse: str | None = None


@dataclass
class Plan:
    changes: list[ResourceChange]
    drift: list[dict[str, str]]
    destroy: bool
    targets: list[str]
    lineage: str
    serial: int

    @property
    def summary(self) -> dict[str, int]:
        """Counts as Terraform gives them: a replacement is one to add and one to destroy."""
        counts = {"add": 0, "change": 0, "destroy": 0}
        for change in self.changes:
            if "create" in change.actions:
                counts["add"] += 1
            if "delete" in change.actions:
                counts["destroy"] += 1
            if change.actions in (UPDATE, CUTOVER):
                counts["change"] += 1
            if change.reverse:
                counts["add"] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(change.actions != NO_OP for change in self.changes)
