"""The example workspaces that use the shipped modules apply for real and replicate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace, execute, same_rows, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def seed_shop(db: Path) -> None:
    execute(db, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL)",
            "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')",
            "INSERT INTO orders VALUES (1, 1, 9.5), (2, 2, 30.0)")


@pytest.mark.e2e
@pytest.mark.parametrize(("example", "replicas"), [("reporting", ["reporting.db"]),
                                                   ("fanout", ["replica_a.db", "replica_b.db"])])
def test_example_replicates_live_changes(workspace: Workspace, example: str, replicas: list[str]) -> None:
    shutil.copy(EXAMPLES / example / "main.dts.yaml", workspace.root / "main.dts.yaml")
    shop = workspace.root / "shop.db"
    seed_shop(shop)
    workspace.run("apply", "--auto-approve")
    execute(shop, "INSERT INTO orders VALUES (3, 1, 12.25)", "UPDATE customers SET name = 'Grace H' WHERE id = 2")
    for replica in replicas:
        for table in ("orders", "customers"):
            wait_for(lambda: same_rows(shop, workspace.root / replica, table), what=f"{table} in {replica}")
    workspace.run("destroy", "--auto-approve")
    assert workspace.run("state", "list").stdout == ""
