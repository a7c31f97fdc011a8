"""MongoDB: collections and indexes, a full copy by _id ranges, change streams, transactional sink."""

from dtsctl.engine.plugin import WITH_TWO_WAY, EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("mongodb", PipelineKind.DOCUMENT, ObjectShape.COLLECTIONS, uri=True, topologies=WITH_TWO_WAY,
                    connector="dtsctl.connectors.mongodb.connector:CONNECTOR")
