"""A subscription task's whole life through the CLI: declare, plan, apply, consume, change groups, destroy."""

from __future__ import annotations

import json

from tests.e2e.cli import Workspace, execute, wait_for

ADDRESS = "task.orders_cdc"


def declaration(groups: list[str]) -> str:
    return f"""
        endpoints:
          shop: {{engine: sqlite, path: ./shop.db}}
        tasks:
          orders_cdc:
            type: subscription
            source: shop
            objects:
              - database: main
                tables: [orders]
            retention: {{hours: 24, megabytes: 100}}
            consumer_groups: {json.dumps(groups)}
        """


def consume(workspace: Workspace, group: str, *options: str) -> list[dict]:
    result = workspace.run("consume", ADDRESS, "--group", group, "--timeout", "2", *options)
    return [json.loads(line) for line in result.stdout.splitlines()]


def rows_of(records: list[dict]) -> list[tuple[str, dict | None]]:
    return [(r["op"], r["after"] or r["before"]) for r in records if r["op"] in ("insert", "update", "delete")]


def test_subscription_task_through_the_cli(workspace: Workspace) -> None:
    execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, note TEXT)")
    workspace.write("main.dts.yaml", declaration(["billing"]))
    plan = json.loads(workspace.run("plan", "--json").stdout)
    assert [c["change"]["actions"] for c in plan["resource_changes"]] == [["create"]]
    workspace.run("apply", "--auto-approve")
    wait_for(lambda: workspace.status(ADDRESS)["phase"] == "incremental", what="the stream to start")

    execute(workspace.root / "shop.db", "INSERT INTO orders VALUES (1, 9.5, 'new')",
            "UPDATE orders SET note = 'paid' WHERE id = 1")
    execute(workspace.root / "shop.db", "DELETE FROM orders WHERE id = 1")
    wait_for(lambda: workspace.status(ADDRESS)["events_applied"] >= 3, what="three changes recorded")
    peek = consume(workspace, "billing", "--no-commit")
    assert rows_of(peek) == [("insert", {"id": 1, "amount": 9.5, "note": "new"}),
                             ("update", {"id": 1, "amount": 9.5, "note": "paid"}),
                             ("delete", {"id": 1, "amount": 9.5, "note": "paid"})]
    assert rows_of(consume(workspace, "billing", "--max-records", "2")) == rows_of(peek)[:1]
    assert rows_of(consume(workspace, "billing")) == rows_of(peek)[1:]  # resumes after its commit
    assert rows_of(consume(workspace, "billing")) == []
    assert rows_of(consume(workspace, "billing", "--from-beginning", "--no-commit")) == rows_of(peek)

    status = json.loads(workspace.run("status", "--json").stdout)["tasks"][0]["subscription"]
    assert status["retained"]["first_seq"] == 1 and status["groups"][0]["name"] == "billing"
    assert "billing" in workspace.run("status", ADDRESS).stdout

    workspace.write("main.dts.yaml", declaration(["billing", "analytics"]))
    plan = json.loads(workspace.run("plan", "--json").stdout)
    assert [c["change"]["actions"] for c in plan["resource_changes"]] == [["update"]]
    assert "consumer_groups" in workspace.run("plan").stdout
    workspace.run("apply", "--auto-approve")
    assert consume(workspace, "analytics", "--max-records", "1", "--from-beginning")[0]["seq"] == 1

    workspace.write("main.dts.yaml", declaration(["analytics"]))
    workspace.run("apply", "--auto-approve")
    gone = workspace.run("consume", ADDRESS, "--group", "billing", "--timeout", "1", check=False)
    assert gone.returncode == 1 and "not declared" in gone.stderr

    workspace.run("destroy", "--auto-approve")
    missing = workspace.run("consume", ADDRESS, "--group", "analytics", "--timeout", "1", check=False)
    assert missing.returncode == 1 and "dtsctl apply" in missing.stderr
