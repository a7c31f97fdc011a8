"""Wires a task's engines into its pipeline: the one place connectors meet the engine.

The CLI, the orchestrator and the agent ask for a task's pipeline here; the
registry (dtsctl.registry) says which pipeline kind its source engine has and
where its connectors live.
"""

from __future__ import annotations

from typing import Any, Callable

from dtsctl import registry
from dtsctl.engine.keyspace.pipeline import KeyspacePipeline
from dtsctl.engine.pipeline import CheckResult, Pipeline, TableComparison
from dtsctl.engine.plugin import EngineSpec, PipelineKind
from dtsctl.engine.subscription.delivery import StreamTarget
from dtsctl.engine.subscription.pipeline import KeyspaceSubscriptionPipeline, SubscriptionPipeline
from dtsctl.engine.subscription.spec import SubscriptionSpec
from dtsctl.engine.tables.pipeline import TablePipeline
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

_SUBSCRIPTIONS: dict[PipelineKind, type[SubscriptionPipeline]] = {
    PipelineKind.TABLES: SubscriptionPipeline,
    PipelineKind.KEY_VALUE: KeyspaceSubscriptionPipeline,
}


def pipeline_for(attributes: dict[str, Any], task_id: str) -> Pipeline:
    """The pipeline of a task: by its type and the pipeline kind of its source engine."""
    spec = TaskSpec.from_attributes(attributes, task_id)
    engine = registry.engine(spec.source_endpoint["engine"])
    source = _source_pipeline(spec, engine)
    if spec.type != "subscription":
        return source
    if not engine.subscription_source:
        raise DtsError(f"a subscription cannot read a {engine.name} endpoint")
    subscription = SubscriptionSpec.from_attributes(attributes)
    return _SUBSCRIPTIONS[engine.pipeline](spec, source, subscription, _delivery(subscription))  # type: ignore[arg-type]


def _source_pipeline(spec: TaskSpec, engine: EngineSpec) -> Pipeline:
    connector = registry.connector(engine.name, engine.pipeline)
    if engine.pipeline is PipelineKind.KEY_VALUE:
        return KeyspacePipeline(spec, connector)
    destination = spec.destination_endpoint
    sink = registry.connector(destination["engine"], PipelineKind.TABLES) if destination else None
    return TablePipeline(spec, connector, sink)


def _delivery(subscription: SubscriptionSpec) -> Callable[[], StreamTarget] | None:
    endpoint, stream = subscription.delivery_endpoint, subscription.delivery_stream
    if endpoint is None or not stream:
        return None
    target = registry.stream_target(endpoint["engine"])
    if target is None:
        holders = " or ".join(registry.engine_names(lambda spec: spec.stream_target is not None))
        raise DtsError(f"deliver_to needs a {holders} endpoint; {endpoint['engine']} cannot hold a stream")
    return lambda: target(endpoint, stream)


def precheck(attributes: dict[str, Any], task_id: str, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
    """Everything that would make the task fail at start, each with what to change (Pipeline.precheck)."""
    return pipeline_for(attributes, task_id).precheck(fed_by)


def prepare(attributes: dict[str, Any], task_id: str) -> None:
    """Make the source ready (idempotent, reconciling)."""
    pipeline_for(attributes, task_id).prepare()


def teardown(attributes: dict[str, Any], task_id: str) -> None:
    """Remove this task's own objects and bookkeeping. Never touches user data."""
    pipeline_for(attributes, task_id).teardown()


def verify(attributes: dict[str, Any]) -> list[TableComparison]:
    """Per selected object: counts on both ends and whether their checksums agree."""
    return pipeline_for(attributes, "verify").verify()
