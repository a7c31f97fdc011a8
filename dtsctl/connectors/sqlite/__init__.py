"""SQLite connector: capture by triggers into a per-task table in the source file."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("sqlite", PipelineKind.TABLES, ObjectShape.TABLES, location="path",
                    connector="dtsctl.connectors.sqlite.connector:CONNECTOR",
                    freeze="BEFORE INSERT/UPDATE/DELETE triggers that refuse writes on the selected tables, "
                           "created once the write in flight has committed",
                    freeze_lasts=False)
