"""MySQL and MariaDB: schema from information_schema, consistent snapshot, binlog stream, transactional sink."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec(
    name="mysql",
    pipeline=PipelineKind.TABLES,
    objects=ObjectShape.TABLES,
    location="host",
    topologies=frozenset({"one-way", "one-to-many", "cascade", "two-way"}),
    connector="dtsctl.connectors.mysql.connector:CONNECTOR",
)
