"""Bad input: one clear line on stderr, exit 1, and nothing changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace, execute

GOOD = """
    endpoints:
      shop: {engine: sqlite, path: ./shop.db}
      replica: {engine: sqlite, path: ./replica.db}
    tasks:
      copy:
        type: synchronization
        source: shop
        destination: replica
        objects: [{database: main, tables: [orders]}]
        status: paused
    """

BAD = {
    "invalid YAML": ("main.dts.yaml", "tasks:\n  copy: [unclosed\n", "main.dts.yaml:"),
    "unknown endpoint": ("main.dts.yaml", GOOD.replace("destination: replica", "destination: replika"), "replika"),
    "unknown key": ("main.dts.yaml", GOOD.replace("destination: replica", "destinaton: replica"), "destinaton"),
    "missing required variable": (
        "main.dts.yaml",
        "variables:\n  db_path: {description: where the shop lives}\n"
        + textwrap.dedent(GOOD).replace("./shop.db", "${ var.db_path }"),
        "db_path",
    ),
    "source file missing": (
        "main.dts.yaml",
        textwrap.dedent(GOOD).replace("endpoints:", "endpoints:\n  gone: {engine: sqlite, path: ./missing.db}")
        + "  other_copy:\n    type: synchronization\n    source: gone\n    destination: replica\n"
        + "    objects: [{database: main, tables: [archive]}]\n",
        "missing.db",
    ),
}


@pytest.fixture
def applied(workspace: Workspace) -> Workspace:
    """A workspace with one managed (paused) task, so there is a state to keep intact."""
    execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
    workspace.write("main.dts.yaml", GOOD)
    workspace.run("apply", "--auto-approve")
    return workspace


def snapshot(root: Path) -> dict[str, bytes]:
    state = root / "state"
    return {p.name: p.read_bytes() for p in sorted(state.iterdir()) if p.is_file()}


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_1_and_changes_nothing(applied: Workspace, case: str) -> None:
    filename, text, mentioned = BAD[case]
    before = snapshot(applied.root)
    applied.write(filename, text)
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = applied.run(*command, check=False)
        if case == "source file missing" and command == ["plan"]:
            assert result.returncode == 0, "plan does not touch endpoints; apply's precheck catches it"
            continue
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert mentioned in lines[0]
        assert "Traceback" not in result.stderr
    assert snapshot(applied.root) == before
    assert not (applied.root / "missing.db").exists()


@pytest.mark.e2e
def test_two_way_topology_is_refused_at_apply_until_loop_prevention_exists(workspace: Workspace) -> None:
    execute(workspace.root / "a.db", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
    execute(workspace.root / "b.db", "CREATE TABLE t (id INTEGER PRIMARY KEY)")
    workspace.write("main.dts.yaml", """
        endpoints:
          a: {engine: sqlite, path: ./a.db}
          b: {engine: sqlite, path: ./b.db}
        topologies:
          pair: {type: two-way, endpoints: [a, b], objects: [{database: main, tables: [t]}]}
        """)
    result = workspace.run("apply", "--auto-approve", check=False)
    assert result.returncode == 1
    assert "two-way topologies are not supported" in result.stderr
    assert workspace.run("state", "list").stdout == ""
