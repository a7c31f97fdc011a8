"""docs/architecture.md, "Adding an engine", walked through: a toy table engine in a temporary
folder plus its line in the registry is validated, expanded and run through its pipeline's
precheck, prepare, verify and teardown, with no other file changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TOY_PACKAGE = {
    # the folder: its declaration ...
    "__init__.py": """
        from dtsctl.engine.plugin import EngineSpec, ObjectShape, PipelineKind

        ENGINE = EngineSpec("toy", PipelineKind.TABLES, ObjectShape.TABLES, location="path",
                            connector="toy_engine.connector:CONNECTOR")
    """,
    # ... and its Source and Sink (here SQLite's, under another name)
    "connector.py": """
        from dtsctl.connectors.sqlite.sink import SqliteSink
        from dtsctl.connectors.sqlite.source import SqliteSource
        from dtsctl.engine.tables.interfaces import TableConnector

        CONNECTOR = TableConnector(source=SqliteSource, sink=SqliteSink)
    """,
}

WALK_THROUGH = """
    import sqlite3, sys
    from pathlib import Path

    from dtsctl import registry
    registry._PACKAGES += ("toy_engine",)  # the registry line

    from dtsctl.config import load_workspace
    from dtsctl.errors import ValidationFailed
    from dtsctl.runtime import lifecycle

    workspace = Path(sys.argv[1])
    with sqlite3.connect(workspace / "a.db") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, 'one')")
    (workspace / "main.dts.yaml").write_text(
        "endpoints:\\n"
        "  a: {engine: toy, path: a.db}\\n"
        "  b: {engine: toy, path: b.db}\\n"
        "topologies:\\n"
        "  pair: {type: two-way, endpoints: [a, b], objects: [{database: main, all: true}]}\\n"
        "tasks:\\n"
        "  copy: {type: migration, source: a, destination: b, objects: [{database: main}]}\\n")
    try:
        load_workspace(workspace, environ={})
    except ValidationFailed as failed:
        for problem in failed.problems:
            print("problem:", problem)
    (workspace / "main.dts.yaml").write_text(
        "endpoints:\\n"
        "  a: {engine: toy, path: a.db}\\n"
        "  b: {engine: toy, path: b.db}\\n"
        "tasks:\\n"
        "  copy: {type: synchronization, source: a, destination: b, objects: [{database: main, all: true}]}\\n")
    [task] = load_workspace(workspace, environ={}).resources
    pipeline = lifecycle.pipeline_for(task.attributes, "t1")
    print("pipeline:", type(pipeline).__name__)
    print("checks:", sorted({check.name for check in pipeline.precheck() if check.ok}))
    pipeline.prepare()
    [comparison] = pipeline.verify()
    print("verify:", comparison.table, comparison.source_count, comparison.destination_count)
    pipeline.teardown()
"""


def test_a_new_table_engine_is_one_folder_and_one_registry_line(tmp_path: Path):
    package = tmp_path / "toy_engine"
    package.mkdir()
    for name, text in TOY_PACKAGE.items():
        (package / name).write_text(textwrap.dedent(text))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(WALK_THROUGH), str(workspace)],
                            capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)}, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "problem: main.dts.yaml:5: topology.pair: two-way synchronization is supported between mysql or redis "
        "or mongodb endpoints, not toy; use one-way tasks",
        "problem: main.dts.yaml:7: task.copy: objects[0] (database main) needs `tables: [...]` or `all: true`",
        "pipeline: TablePipeline",
        "checks: ['conflicts', 'connectivity', 'keys', 'settings']",
        "verify: main.orders 1 None",
    ]
