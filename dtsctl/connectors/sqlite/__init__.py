"""SQLite connector: capture by triggers into a per-task table in the source file."""

from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

ENGINE = EngineSpec("sqlite", PipelineKind.TABLES, ObjectShape.TABLES, location="path",
                    connector="dtsctl.connectors.sqlite.connector:CONNECTOR")
