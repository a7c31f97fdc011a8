"""MySQL and MariaDB: schema from information_schema, consistent snapshot, binlog stream, transactional sink."""

from dtsctl.engine.plugin import WITH_TWO_WAY, EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("mysql", PipelineKind.TABLES, ObjectShape.TABLES, topologies=WITH_TWO_WAY, replicas=True,
                    connector="dtsctl.connectors.mysql.connector:CONNECTOR",
                    freeze="SET GLOBAL read_only = ON, then wait for open write transactions to end")
