"""The table pipeline around an agent's life: precheck, prepare, teardown, verify, and its runner."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable, Iterator

from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.errors import EndpointMissing
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import NO_DESTINATION, CheckResult, Pipeline, SourceFreeze
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables.filters import FilterEvaluator
from dtsctl.engine.tables.interfaces import Sink, Source, TableConnector, TableSchema
from dtsctl.engine.tables.runner import TaskRunner
from dtsctl.engine.tables.selection import TablePlan, databases_of, resolve_tables
from dtsctl.engine.task import TaskSpec
from dtsctl.engine.tables.verify import TableVerifier, changed_keys
from dtsctl.engine.verification import (ApplierWatch, NoProgress, ObjectReport, VerifyOptions, VerifyProgress,
                                        chosen, held_payloads, opened, repair_log)
from dtsctl.errors import DtsError


class TablePipeline(Pipeline):
    """Tables of a source engine into tables of a destination engine (each its own connector)."""

    def __init__(self, spec: TaskSpec, source: TableConnector, destination: TableConnector | None) -> None:
        super().__init__(spec)
        self._source_connector = source
        self._sink_connector = destination

    def source(self) -> Source:
        source = self._source_connector.source(self.spec.source_endpoint, self.spec.task_id)
        source.owner_token = self.spec.fencing_token
        return source

    def sink(self, origin: str | None = None) -> Sink:
        """The destination's sink; the runner's writes carry `origin` (a direction of a two-way pair)."""
        assert self._sink_connector is not None and self.spec.destination_endpoint is not None
        return self._sink_connector.sink(self.spec.destination_endpoint, self.spec.task_id, origin)

    def progress(self) -> Progress:
        return Progress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> TaskRunner:
        return TaskRunner(self, changelog_path, progress, stop, on_commit)

    def precheck(self, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
        spec = self.spec
        results: list[CheckResult] = []
        with self._endpoints() as (source, sink):
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

    def prepare(self) -> None:
        """Capture exactly the selected tables (idempotent, reconciling)."""
        spec = self.spec
        with self._endpoints(with_sink=False) as (source, _):
            if not spec.incremental:
                source.remove_capture()
                return
            plans = resolve_tables(spec.objects, source.list_tables)
            if spec.follows_peer:
                plans = [plan for plan in plans if source.table_schema(plan.source_database, plan.source_table)]
            source.install_capture([_schema_or_error(source, plan) for plan in plans])

    def teardown(self) -> None:
        """Remove this task's capture objects and checkpoint."""
        with self._endpoints() as (source, sink):
            with contextlib.suppress(EndpointMissing):
                source.remove_capture()
            if sink is not None:
                with contextlib.suppress(EndpointMissing):
                    sink.delete_checkpoint()

    def verify(self, options: VerifyOptions = VerifyOptions(), progress: VerifyProgress = NoProgress()
               ) -> list[ObjectReport]:
        reports = []
        with self._endpoints() as (source, sink):
            if sink is None:
                raise DtsError(NO_DESTINATION)
            watch = ApplierWatch(sink.load_checkpoint, options.changelog, source.position_order,
                                 source.describe_position)
            verifier = TableVerifier(source, sink, watch, progress)
            plans = {plan.name: plan for plan in resolve_tables(self.spec.objects, source.list_tables)}
            schemas = {name: _schema_or_error(source, plans[name]) for name in chosen(plans, options.tables)}
            payloads = held_payloads(options)
            changed = changed_keys(payloads, schemas) if payloads is not None else None
            for name, schema in schemas.items():
                report = (verifier.verify(plans[name], schema) if changed is None
                          else verifier.verify_keys(plans[name], schema, sorted(changed[name], key=repr)))
                if options.repair and report.differences:
                    with opened(repair_log(options)) as changelog:
                        verifier.repair(plans[name], schema, report, changelog)
                reports.append(report)
        return reports

    def freeze_source(self, drain_seconds: float) -> SourceFreeze:
        source = self.source()
        try:
            source.freeze_writes(drain_seconds)
            position = source.current_position()
        except BaseException:
            _unfreeze(source)
            raise
        return _TableFreeze(source, position, source.describe_position(position))

    def source_position(self) -> Position:
        source = self.source()
        try:
            return source.current_position()
        finally:
            source.close()

    def wait_applied(self, position: Position, changelog: Path) -> None:
        with self._endpoints() as (source, sink):
            assert sink is not None
            ApplierWatch(sink.load_checkpoint, changelog, source.position_order,
                         source.describe_position).wait_past(position)

    @contextlib.contextmanager
    def _endpoints(self, with_sink: bool = True) -> Iterator[tuple[Source, Sink | None]]:
        source = self.source()
        sink = self.sink() if with_sink and self._sink_connector is not None else None
        try:
            yield source, sink
        finally:
            source.close()
            if sink is not None:
                sink.close()


class _TableFreeze:
    def __init__(self, source: Source, final_position: Position, describe: str) -> None:
        self._source = source
        self.final_position = final_position
        self.describe = describe

    def unfreeze(self) -> None:
        _unfreeze(self._source)

    def leave_frozen(self) -> None:
        self._source.close()


def _unfreeze(source: Source) -> None:
    try:
        source.unfreeze_writes()
    finally:
        source.close()


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
        if not sink.table_exists(plan.dest_database, plan.dest_table):
            if "schema" not in spec.phases:
                results.append(CheckResult(
                    "conflicts", False,
                    f"destination table {plan.dest_name} does not exist and `schema` is not in phases; "
                    "create it or add schema to `phases`",
                ))
            continue
        if resuming or "full" not in spec.phases:  # rows there are this task's, or expected without a copy
            continue
        count = sink.row_count(plan.dest_database, plan.dest_table)  # a scan: only for a copy's first start
        if count:
            if spec.conflict_policy is ConflictPolicy.FAIL:
                results.append(CheckResult(
                    "conflicts", False,
                    f"destination table {plan.dest_name} already holds {count} rows; empty it, rename the "
                    "table with `table_rename`, or set conflict_policy to ignore or overwrite",
                ))
            else:
                results.append(CheckResult(
                    "conflicts", True,
                    f"destination table {plan.dest_name} already holds {count} rows; they are merged "
                    f"(conflict_policy {spec.conflict_policy.value})", warning=True,
                ))
    if not results:
        results.append(CheckResult("conflicts", True, "no conflicting rows on the destination"))
    return results
