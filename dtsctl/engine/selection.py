"""What a task replicates, resolved from its attributes: one `TablePlan` per source table."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from dtsctl.engine.events import Op
from dtsctl.engine.origin import PairTags, pair_tags
from dtsctl.engine.throttle import Throttle
from dtsctl.errors import DtsError


@dataclass(frozen=True)
class TablePlan:
    source_database: str
    source_table: str
    dest_database: str
    dest_table: str
    filter: str | None
    dml: frozenset[Op]
    ddl: bool = True

    @property
    def name(self) -> str:
        """The source table as "db.table", the key of its progress in the checkpoint."""
        return f"{self.source_database}.{self.source_table}"

    @property
    def dest_name(self) -> str:
        return f"{self.dest_database}.{self.dest_table}"


@dataclass(frozen=True)
class TaskSpec:
    """The task attributes the engine acts on."""

    task_id: str
    type: str
    phases: tuple[str, ...]
    objects: tuple[dict[str, Any], ...]
    conflict_policy: str
    rps: float
    mbps: float
    throttle_windows: tuple[dict[str, Any], ...]
    throttle_timezone: str
    connection_minutes: float
    source_endpoint: dict[str, Any]
    destination_endpoint: dict[str, Any] | None
    tags: PairTags | None = None  # set for a direction of a two-way pair
    shares_log: bool = False  # a destination of a one-to-many topology: one reader, one change log

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any], task_id: str) -> "TaskSpec":
        throttle = attributes.get("throttle") or {}
        retry = attributes.get("retry") or {}
        return cls(
            task_id=task_id,
            type=attributes["type"],
            phases=tuple(attributes.get("phases") or ("schema", "full", "incremental")),
            objects=tuple(attributes["objects"]),
            conflict_policy=attributes.get("conflict_policy") or "fail",
            rps=float(throttle.get("rps") or 0),
            mbps=float(throttle.get("mbps") or 0),
            throttle_windows=tuple(throttle.get("windows") or ()),
            throttle_timezone=throttle.get("timezone") or "UTC",
            connection_minutes=float(retry.get("connection_minutes") or 720),
            source_endpoint=attributes["source_endpoint"],
            destination_endpoint=attributes.get("destination_endpoint"),
            tags=pair_tags(attributes),
            shares_log=shares_change_log(attributes),
        )

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


def resolve_tables(objects: tuple[dict[str, Any], ...], list_tables: Callable[[str], list[str]]) -> list[TablePlan]:
    """Expand object selections into table plans; `all: true` lists the source's tables."""
    plans: dict[str, TablePlan] = {}
    destinations: dict[str, str] = {}
    for selection in objects:
        database = str(selection["database"])
        dest_database = str(selection["rename"]) if selection.get("rename") is not None else database
        tables = list_tables(database) if selection.get("all") else list(selection.get("tables") or [])
        renames = selection.get("table_rename") or {}
        filters = selection.get("filter") or {}
        dml = frozenset(selection.get("dml") or ("insert", "update", "delete"))
        ddl = selection.get("ddl", True) is not False
        for table in tables:
            plan = TablePlan(database, table, dest_database, renames.get(table, table), filters.get(table), dml, ddl)
            if plan.name in plans:
                raise DtsError(f"table {plan.name} is selected twice in `objects`; select each table once")
            if plan.dest_name in destinations:
                raise DtsError(
                    f"tables {destinations[plan.dest_name]} and {plan.name} both map to {plan.dest_name}; "
                    "fix `table_rename`"
                )
            plans[plan.name] = plan
            destinations[plan.dest_name] = plan.name
    return list(plans.values())


def plan_for(objects: tuple[dict[str, Any], ...], database: str, table: str) -> TablePlan | None:
    """The plan a table would get if it existed now (a table created at the source while the
    task runs): selected when its database has `all: true` or it is listed in `tables`."""
    for selection in objects:
        if str(selection["database"]) != database:
            continue
        if selection.get("all") or table in (selection.get("tables") or []):
            return resolve_tables(({**selection, "all": False, "tables": [table]},), lambda _: [])[0]
    return None


def databases_of(objects: tuple[dict[str, Any], ...]) -> frozenset[str]:
    return frozenset(str(selection["database"]) for selection in objects)
