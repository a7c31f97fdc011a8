"""The tables a task replicates, resolved from its `objects`: one `TablePlan` per source table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dtsctl.engine.events import Op
from dtsctl.engine.task import ALL_DML
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
        dml = frozenset(selection.get("dml") or ALL_DML)
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
