"""What the CLI asks of the engine around an agent's life: precheck, prepare, teardown, verify.

Each call is synchronous and works on a task's attributes (dtsctl.config.resources).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from dtsctl.connectors import registry
from dtsctl.engine.errors import EndpointMissing
from dtsctl.engine.filters import FilterEvaluator
from dtsctl.engine.interfaces import Sink, Source, TableSchema
from dtsctl.engine.keyspace import lifecycle as keyspace_lifecycle
from dtsctl.engine.keyspace import registry as keyspace
from dtsctl.engine.selection import TablePlan, TaskSpec, databases_of, resolve_tables
from dtsctl.errors import DtsError


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str  # for a failure: what is wrong and what to change
    warning: bool = False


@dataclass
class TableComparison:
    table: str  # source "db.table"
    destination: str  # destination "db.table"
    source_count: int
    destination_count: int | None  # None: the destination table does not exist
    checksums_equal: bool

    @property
    def ok(self) -> bool:
        return self.checksums_equal and self.source_count == self.destination_count


def precheck(attributes: dict[str, Any], task_id: str, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
    """Everything that would make the task fail at start, each with what to change. `fed_by` names
    the tasks whose destination this task reads: the tables they create need not exist yet."""
    if keyspace.handles(attributes):
        return keyspace_lifecycle.precheck(attributes, task_id)
    spec = TaskSpec.from_attributes(attributes, task_id)
    results: list[CheckResult] = []
    with _endpoints(spec) as (source, sink):
        for role, endpoint in (("source", source), ("destination", sink)):
            if endpoint is None:
                continue
            try:
                endpoint.check_connection()
            except DtsError as exc:
                results.append(CheckResult("connectivity", False, str(exc)))
                return results
            results.append(CheckResult("connectivity", True, f"{role} is reachable"))
        results.extend(_check_settings(spec, source, sink))
        try:
            plans = resolve_tables(spec.objects, source.list_tables)
        except DtsError as exc:
            return [*results, CheckResult("objects", False, str(exc))]
        if spec.follows_peer:  # tables the forward direction has yet to create are adopted later
            present = [plan for plan in plans if source.table_schema(plan.source_database, plan.source_table)]
            if len(present) < len(plans) or not plans:
                results.append(CheckResult(
                    "objects", True, "tables not yet on this direction's source are replicated once the forward "
                    "direction creates them", warning=True))
            plans = present
        elif not plans and fed_by:
            results.append(CheckResult(
                "objects", False, f"no table is selected yet; the tables {', '.join(fed_by)} creates on this "
                "task's source are replicated once they exist", warning=True))
        elif not plans:
            results.append(CheckResult("objects", False, "no table is selected; fix `objects`"))
        for plan in plans:
            results.extend(_check_table(source, plan))
        if sink is not None:
            results.extend(_check_destination(spec, sink, plans))
    return results


def prepare(attributes: dict[str, Any], task_id: str) -> None:
    """Make the source ready: capture exactly the selected tables (idempotent, reconciling)."""
    if keyspace.handles(attributes):
        return keyspace_lifecycle.prepare(attributes, task_id)
    spec = TaskSpec.from_attributes(attributes, task_id)
    with _endpoints(spec, with_sink=False) as (source, _):
        if not spec.incremental:
            source.remove_capture()
            return
        plans = resolve_tables(spec.objects, source.list_tables)
        if spec.follows_peer:
            plans = [plan for plan in plans if source.table_schema(plan.source_database, plan.source_table)]
        source.install_capture([_schema_or_error(source, plan) for plan in plans])


def teardown(attributes: dict[str, Any], task_id: str) -> None:
    """Remove this task's capture objects and bookkeeping. Never touches user data."""
    if keyspace.handles(attributes):
        return keyspace_lifecycle.teardown(attributes, task_id)
    spec = TaskSpec.from_attributes(attributes, task_id)
    with _endpoints(spec) as (source, sink):
        with contextlib.suppress(EndpointMissing):
            source.remove_capture()
        if sink is not None:
            with contextlib.suppress(EndpointMissing):
                sink.delete_checkpoint()


def verify(attributes: dict[str, Any]) -> list[TableComparison]:
    """Per selected table: row counts on both ends and whether their checksums agree."""
    if keyspace.handles(attributes):
        return keyspace_lifecycle.verify(attributes)
    spec = TaskSpec.from_attributes(attributes, "verify")
    comparisons = []
    with _endpoints(spec) as (source, sink):
        if sink is None:
            raise DtsError("verify compares a source with a destination; a subscription task has none")
        for plan in resolve_tables(spec.objects, source.list_tables):
            schema = _schema_or_error(source, plan)
            count, checksum = source.checksum(schema, plan.filter)
            if sink.row_count(plan.dest_database, plan.dest_table) is None:
                comparisons.append(TableComparison(plan.name, plan.dest_name, count, None, False))
                continue
            dest_count, dest_checksum = sink.checksum(schema, plan.dest_database, plan.dest_table)
            comparisons.append(TableComparison(plan.name, plan.dest_name, count, dest_count, checksum == dest_checksum))
    return comparisons


@contextlib.contextmanager
def _endpoints(spec: TaskSpec, with_sink: bool = True) -> Iterator[tuple[Source, Sink | None]]:
    source = registry.source_class(spec.source_endpoint["engine"])(spec.source_endpoint, spec.task_id)
    sink = None
    if with_sink and spec.destination_endpoint is not None:
        sink = registry.sink_class(spec.destination_endpoint["engine"])(spec.destination_endpoint, spec.task_id)
    try:
        yield source, sink
    finally:
        source.close()
        if sink is not None:
            sink.close()


def _schema_or_error(source: Source, plan: TablePlan) -> TableSchema:
    schema = source.table_schema(plan.source_database, plan.source_table)
    if schema is None:
        raise DtsError(f"table {plan.name} does not exist in the source; fix `objects`")
    return schema


def _check_settings(spec: TaskSpec, source: Source, sink: Sink | None) -> list[CheckResult]:
    """Log settings and privileges on the source; version and settings on the destination."""
    databases = sorted(databases_of(spec.objects))
    problems = source.check_settings(spec.incremental, databases)
    if sink is not None:
        problems += sink.check_settings(source.server_version())
    if not problems:
        return [CheckResult("settings", True, "server settings and privileges are sufficient")]
    return [CheckResult("settings", False, problem) for problem in problems]


def _check_table(source: Source, plan: TablePlan) -> list[CheckResult]:
    schema = source.table_schema(plan.source_database, plan.source_table)
    if schema is None:
        return [CheckResult("objects", False, f"table {plan.name} does not exist in the source; fix `objects`")]
    results = []
    if schema.key:
        results.append(CheckResult("keys", True, f"{plan.name} has key ({', '.join(schema.key)})"))
    else:
        results.append(CheckResult(
            "keys", False,
            f"table {plan.name} has no primary key or unique NOT NULL key; add one (changes are applied by key)",
        ))
    if plan.filter is not None:
        problem = source.check_filter(plan.source_database, plan.source_table, plan.filter) or \
            FilterEvaluator().check(plan.filter, schema.column_names)
        if problem:
            results.append(CheckResult(
                "filters", False, f"filter for {plan.name} is not a valid SQL expression ({problem}); fix `filter`"
            ))
        else:
            results.append(CheckResult("filters", True, f"filter for {plan.name} is valid"))
    return results


def _check_destination(spec: TaskSpec, sink: Sink, plans: list[TablePlan]) -> list[CheckResult]:
    results = []
    for database in sorted({plan.dest_database for plan in plans}):
        problem = sink.check_database(database)
        if problem:
            results.append(CheckResult("objects", False, problem))
    if results:
        return results
    resuming = sink.load_checkpoint() is not None  # a restart or reconfigure of this very task
    for plan in plans:
        count = sink.row_count(plan.dest_database, plan.dest_table)
        if count is None and "schema" not in spec.phases:
            results.append(CheckResult(
                "conflicts", False,
                f"destination table {plan.dest_name} does not exist and `schema` is not in phases; "
                "create it or add schema to `phases`",
            ))
        elif count and not resuming and "full" in spec.phases:  # without a copy, rows there are expected
            if spec.conflict_policy == "fail":
                results.append(CheckResult(
                    "conflicts", False,
                    f"destination table {plan.dest_name} already holds {count} rows; empty it, rename the "
                    "table with `table_rename`, or set conflict_policy to ignore or overwrite",
                ))
            else:
                results.append(CheckResult(
                    "conflicts", True,
                    f"destination table {plan.dest_name} already holds {count} rows; they are merged "
                    f"(conflict_policy {spec.conflict_policy})", warning=True,
                ))
    if not results:
        results.append(CheckResult("conflicts", True, "no conflicting rows on the destination"))
    return results
