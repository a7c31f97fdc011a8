"""Wires a task's engines into its pipeline: the one place connectors meet the engine.

The CLI, the orchestrator and the agent ask for a task's pipeline here; the
registry (dtsctl.registry) says which pipeline kind its source engine has and
where its connectors live.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dtsctl import registry
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import CheckResult, Pipeline, SourceFreeze
from dtsctl.engine.plugin import EngineSpec, PipelineKind
from dtsctl.engine.origin import pair_tags
from dtsctl.engine.tables.pipeline import TablePipeline
from dtsctl.engine.task import TaskSpec, shares_change_log
from dtsctl.engine.verification import NoProgress, ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.errors import DtsError

if TYPE_CHECKING:
    from dtsctl.engine.subscription.delivery import StreamTarget
    from dtsctl.engine.subscription.spec import SubscriptionSpec

START_POSITION = "start_position"  # in an agent's attributes: where its fresh stream starts (TaskSpec)
# The form of `declaration`'s document; raise it when what `task_spec` or `subscription_spec` reads
# changes, so that an agent never reads a document an earlier dtsctl wrote in another form.
DECLARATION_FORMAT = 1
_DECLARED_FIELDS = {"type", "phases", "objects", "conflict_policy", "on_position_lost", "throttle", "retry",
                    "retention", "deliver_to"}


def _subscription_pipeline(kind: PipelineKind) -> Any:
    """The subscription pipeline class of a source's kind. Like the key-value and document pipelines,
    imported only when a task needs it: an agent's start (before every task's first row) and
    `apply` import only what their task uses."""
    from dtsctl.engine.documents.subscription import DocumentSubscriptionPipeline
    from dtsctl.engine.subscription.pipeline import KeyspaceSubscriptionPipeline, SubscriptionPipeline

    return {PipelineKind.TABLES: SubscriptionPipeline, PipelineKind.KEY_VALUE: KeyspaceSubscriptionPipeline,
            PipelineKind.DOCUMENT: DocumentSubscriptionPipeline}[kind]


def pipeline_for(attributes: dict[str, Any], task_id: str, declared: dict[str, Any] | None = None) -> Pipeline:
    """The pipeline of a task: by its type and the pipeline kind of its source engine. `declared` is
    the attributes' `declaration` when the caller has it (an agent, from its config.json)."""
    if declared is None or declared.get("format") != DECLARATION_FORMAT:
        declared = declaration(attributes)
    spec = task_spec(declared, attributes, task_id)
    engine = registry.engine(spec.source_endpoint["engine"])
    source = _source_pipeline(spec, engine)
    if spec.type != "subscription":
        return source
    if not engine.subscription_source:
        raise DtsError(f"a subscription cannot read a {engine.name} endpoint")
    subscription = subscription_spec(declared, attributes)
    return _subscription_pipeline(engine.pipeline)(spec, source, subscription, _delivery(subscription))


def declaration(attributes: dict[str, Any]) -> dict[str, Any]:
    """What the engine reads of the task's declaration, parsed back from its attributes with the model
    that wrote them (every default filled in), as plain data, with its consumer groups as name ->
    where a new group starts. `Agent.write_config` keeps it beside the attributes, so that an agent
    starts without loading the model (pydantic and the declaration model: 10 MB and, on the
    benchmark machine, 0.06 to 0.15 s of each start)."""
    from pydantic import ValidationError

    from dtsctl.config.model import Task

    try:
        task = Task.model_validate({name: attributes[name] for name in Task.model_fields if name in attributes})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        raise DtsError(f"the task's recorded configuration is not valid ({problems}); apply the declaration again") from exc
    return {**task.model_dump(mode="json", by_alias=True, include=_DECLARED_FIELDS),
            "groups": declared_groups(attributes), "format": DECLARATION_FORMAT}


def task_spec(declared: dict[str, Any], attributes: dict[str, Any], task_id: str) -> TaskSpec:
    """The engine's typed view of a declared task (`declared`: its `declaration`); endpoints and
    topology come resolved in `attributes`."""
    tags = pair_tags(attributes)
    throttle = declared["throttle"]
    return TaskSpec(
        task_id=task_id,
        type=declared["type"],
        phases=tuple(declared["phases"]),
        objects=tuple(declared["objects"]),
        conflict_policy=ConflictPolicy(declared["conflict_policy"]),
        rps=throttle["rps"],
        mbps=throttle["mbps"],
        throttle_windows=tuple(throttle["windows"]),
        throttle_timezone=throttle["timezone"],
        connection_minutes=declared["retry"]["connection_minutes"],
        source_endpoint=attributes["source_endpoint"],
        destination_endpoint=attributes.get("destination_endpoint"),
        tags=tags,
        peer=(attributes.get("topology") or {}).get("peer") if tags else None,
        shares_log=shares_change_log(attributes),
        run=attributes.get("run"),
        fencing_token=attributes.get("fencing_token"),
        reseed_on_lost_position=declared["on_position_lost"] == "reseed",
        start_position=attributes.get(START_POSITION),
    )


def subscription_spec(declared: dict[str, Any], attributes: dict[str, Any]) -> SubscriptionSpec:
    from dtsctl.engine.subscription.retention import Retention
    from dtsctl.engine.subscription.spec import SubscriptionSpec
    from dtsctl.engine.subscription.stores import RECORD_STORE

    retention, deliver_to = declared["retention"], declared["deliver_to"]
    return SubscriptionSpec(
        retention=Retention(retention["hours"], retention["megabytes"]) if retention else Retention(0, 0),
        groups=declared["groups"],
        delivery_endpoint=attributes.get("delivery_endpoint"),
        delivery_stream=deliver_to["stream"] if deliver_to else None,
        record_store=attributes.get(RECORD_STORE),
    )


def sync_groups(task_dir: Path, attributes: dict[str, Any]) -> None:
    """Create the task's store if needed and make its groups the declared ones (apply calls this,
    so a new group can be read at once and a removed one's offset is gone)."""
    from dtsctl.engine.subscription.stores import RECORD_STORE, location, open_store

    task_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(location(task_dir, attributes.get(RECORD_STORE)))
    try:
        store.sync_groups(declared_groups(attributes))
    finally:
        store.close()


def declared_groups(attributes: dict[str, Any]) -> dict[str, str]:
    """The consumer groups of a subscription's attributes (name -> options), read with the declaration's
    model: name -> where a new group starts."""
    from dtsctl.config.model import ConsumerGroup

    groups = attributes.get("consumer_groups") or {}
    return {name: ConsumerGroup.model_validate(options or {}).start for name, options in groups.items()}


def _source_pipeline(spec: TaskSpec, engine: EngineSpec) -> Pipeline:
    connector = registry.connector(engine.name, engine.pipeline)
    if engine.pipeline is PipelineKind.KEY_VALUE:
        from dtsctl.engine.keyspace.pipeline import KeyspacePipeline

        return KeyspacePipeline(spec, connector)
    if engine.pipeline is PipelineKind.DOCUMENT:
        from dtsctl.engine.documents.pipeline import DocumentPipeline

        destination = spec.destination_endpoint
        if destination is not None and destination["engine"] != engine.name:
            raise DtsError(f"a {engine.name} source can only be copied into {engine.name}, not {destination['engine']}")
        return DocumentPipeline(spec, connector)
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


def freeze_source(attributes: dict[str, Any], task_id: str, drain_seconds: float) -> SourceFreeze:
    """Hold off writes on the task's source until the returned freeze is lifted (a cutover)."""
    return pipeline_for(attributes, task_id).freeze_source(drain_seconds)


def source_position(attributes: dict[str, Any], task_id: str) -> Position:
    return pipeline_for(attributes, task_id).source_position()


def wait_applied(attributes: dict[str, Any], task_id: str, position: Position, changelog: Path) -> None:
    pipeline_for(attributes, task_id).wait_applied(position, changelog)


def precheck(attributes: dict[str, Any], task_id: str, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
    """Everything that would make the task fail at start, each with what to change (Pipeline.precheck)."""
    return pipeline_for(attributes, task_id).precheck(fed_by)


def prepare(attributes: dict[str, Any], task_id: str) -> None:
    """Make the source ready (idempotent, reconciling)."""
    pipeline_for(attributes, task_id).prepare()


def teardown(attributes: dict[str, Any], task_id: str) -> None:
    """Remove this task's own objects and bookkeeping. Never touches user data."""
    pipeline_for(attributes, task_id).teardown()


def verify(attributes: dict[str, Any], task_id: str, options: VerifyOptions = VerifyOptions(),
           progress: VerifyProgress = NoProgress()) -> list[ObjectReport]:
    """Per selected object: what differs between the ends, and with `options.repair` what was rewritten."""
    return pipeline_for(attributes, task_id).verify(options, progress)
