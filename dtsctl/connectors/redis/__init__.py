"""The Redis connector: a replica-protocol source and a (cluster-aware) sink for dtsctl.engine.keyspace."""

from dtsctl.engine.plugin import WITH_TWO_WAY, EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("redis", PipelineKind.KEY_VALUE, ObjectShape.KEYS, topologies=WITH_TWO_WAY, sentinel=True,
                    connector="dtsctl.connectors.redis.connector:CONNECTOR",
                    stream_target="dtsctl.connectors.redis.stream:RedisStreamTarget",
                    freeze="CLIENT PAUSE WRITE", freeze_lasts=False)
