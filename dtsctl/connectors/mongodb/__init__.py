"""MongoDB: declared so endpoints validate; its connector (a document pipeline) is not written yet."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("mongodb", PipelineKind.DOCUMENT, ObjectShape.COLLECTIONS)  # no connector yet
