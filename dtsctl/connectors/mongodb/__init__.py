"""MongoDB: declared so endpoints validate; its connector (a document pipeline) is not written yet."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec(
    name="mongodb",
    pipeline=PipelineKind.DOCUMENT,
    objects=ObjectShape.COLLECTIONS,
    location="host",
    topologies=frozenset({"one-way", "one-to-many", "cascade"}),
)
