"""What the declaration asks for, as addressable resources.

The config layer turns a workspace into a list of `DesiredResource`; the plan
layer diffs them against the state; the runtime turns a task's `attributes`
into a running agent. A task's attributes are plain JSON: the same dict is
recorded in the state (secrets hashed) and handed to the agent (secrets clear).

Task attributes (every key always present):

    type                synchronization | migration | subscription
    source              endpoint name as written (e.g. "bj")
    destination         endpoint name or None
    source_endpoint     resolved endpoint dict (engine, host, port, user, password, path, database, cluster,
                        sentinel {hosts, master, password});
                        sqlite `path` is absolute
    destination_endpoint  the same, or None
    phases              ordered list of phases
    objects             list of ObjectSelection dicts (model_dump, defaults filled)
    conflict_policy, throttle, retry, status, lifecycle   as in the model
    workspace           absolute path of the root workspace (where relative paths were resolved)
    topology            None for a task declared under `tasks:`; for a task a topology expanded into:
                        {"name": topology name, "type": one-way | one-to-many | cascade | two-way,
                         "peer": address of the opposite direction (two-way) or None}

Subscription tasks have four more (all updated in place, never forcing replacement):

    retention           {"hours": float, "megabytes": float}; 0 means no bound
    consumer_groups     {name: {"start": "latest" | "earliest"}}, sorted by name (a list in the file
                        becomes this mapping); adding one creates its offset, removing one deletes it
    deliver_to          {"endpoint": name, "stream": key} or None
    delivery_endpoint   the resolved redis endpoint `deliver_to` names, or None

`sensitive_paths` are paths into the attributes; a path covers everything below it
(("source_endpoint", "password") or a whole ("objects", 0, "filter") rendered from a secret).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AttributePath = tuple[str | int, ...]

# Attribute paths whose change forces a task to be replaced (contract, section 4).
# Attribute paths of an endpoint that say which server it is; changing one replaces the tasks using it.
# A Sentinel-managed endpoint is its master name: its Sentinels (`sentinel.hosts`) only say where to ask.
ENDPOINT_IDENTITY_PATHS: tuple[AttributePath, ...] = (
    ("engine",), ("host",), ("port",), ("path",), ("database",), ("cluster",), ("sentinel", "master"),
)
REPLACE_PATHS: tuple[AttributePath, ...] = (
    ("type",),
    ("source",),
    ("destination",),
    ("phases",),
    *(("source_endpoint", *path) for path in ENDPOINT_IDENTITY_PATHS),
    *(("destination_endpoint", *path) for path in ENDPOINT_IDENTITY_PATHS),
)


@dataclass(frozen=True)
class DesiredResource:
    """One resource the declaration asks for, fully resolved (secrets in clear text)."""

    address: str  # "task.orders_sync", "module.dr.task.copy", "topology.geo.task.forward"
    type: str  # "task"
    name: str  # last element of the address ("orders_sync", "forward")
    attributes: dict[str, Any]
    sensitive_paths: frozenset[AttributePath] = frozenset()
    depends_on: tuple[str, ...] = ()  # addresses that must exist first (created before, destroyed after)
    reads_from: tuple[str, ...] = ()  # the tasks whose destination this one reads (also in depends_on)
    file: str = ""  # declaration file and line, for messages
    line: int = 0

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.file else self.address


@dataclass
class Outputs:
    """Declared outputs, still unevaluated (they may read live task attributes)."""

    templates: dict[str, Any] = field(default_factory=dict)
    sensitive: set[str] = field(default_factory=set)
