"""The Redis connector: a replica-protocol source and a (cluster-aware) sink for dtsctl.engine.keyspace."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec(
    name="redis",
    pipeline=PipelineKind.KEY_VALUE,
    objects=ObjectShape.KEYS,
    location="host",
    topologies=frozenset({"one-way", "one-to-many", "cascade", "two-way"}),
    connector="dtsctl.connectors.redis.connector:CONNECTOR",
    stream_target="dtsctl.connectors.redis.stream:RedisStreamTarget",
)
