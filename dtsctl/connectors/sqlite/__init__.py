"""SQLite connector: capture by triggers into a per-task table in the source file."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec(
    name="sqlite",
    pipeline=PipelineKind.TABLES,
    objects=ObjectShape.TABLES,
    location="path",
    topologies=frozenset({"one-way", "one-to-many", "cascade"}),
    connector="dtsctl.connectors.sqlite.connector:CONNECTOR",
)
