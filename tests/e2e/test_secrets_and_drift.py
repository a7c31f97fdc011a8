"""Secrets never reach disk or output in clear; dead agents show up as drift and are restarted."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.e2e.cli import Workspace, execute, rows, wait_for

SECRET = "s3cr3t-Pa55-wOrd"

DECLARATION = """
    variables:
      hidden_note: {sensitive: true}
    endpoints:
      shop: {engine: sqlite, path: ./shop.db}
      replica: {engine: sqlite, path: ./replica.db}
    tasks:
      copy:
        type: synchronization
        source: shop
        destination: replica
        objects:
          - database: main
            tables: [orders]
            filter: {orders: "note != '${ var.hidden_note }'"}
    outputs:
      note: ${ var.hidden_note }
    """


@pytest.fixture
def running(workspace: Workspace) -> Workspace:
    execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
            "INSERT INTO orders VALUES (1, 'public')", f"INSERT INTO orders VALUES (2, '{SECRET}')")
    workspace.write("main.dts.yaml", DECLARATION)
    workspace.write("secret.dtsvars.yaml", f"hidden_note: {SECRET}\n")
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    return workspace


@pytest.mark.e2e
def test_sensitive_values_never_appear_in_clear(running: Workspace) -> None:
    ws = running
    assert rows(ws.root / "replica.db", "orders") == [(1, "public")], "the filter used the secret value"
    outputs = [ws.run("plan", "--out", "saved.plan").stdout, ws.run("plan", "--json").stdout,
               ws.run("show").stdout, ws.run("show", "saved.plan").stdout, ws.run("status", "--json").stdout,
               ws.run("output").stdout, ws.run("state", "show", "task.copy").stdout,
               ws.run("logs", "task.copy", "--lines", "1000").stdout]
    for text in outputs:
        assert SECRET not in text
    assert "(sensitive value)" in ws.run("output").stdout
    files = [ws.root / "state" / "dtsctl.state.json", ws.root / "saved.plan",
             *(ws.root / ".dtsctl").rglob("*.log"), *(ws.root / ".dtsctl").rglob("status.json")]
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    config = ws.root / ".dtsctl" / "tasks" / "task.copy" / "config.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600", "the agent's credentials file is owner-only"


@pytest.mark.e2e
def test_dead_agent_without_supervisor_is_drift_that_apply_restarts(running: Workspace) -> None:
    ws = running
    os.kill(ws.supervisor_pid(), signal.SIGKILL)
    os.kill(ws.agent_pid("task.copy"), signal.SIGKILL)
    wait_for(lambda: ws.agent_pid("task.copy") is None, what="the agent to die")
    assert ws.run("plan", "--detailed-exitcode", check=False).returncode == 2
    plan = json.loads(ws.run("plan", "--json").stdout)
    assert [d["address"] for d in plan["drift"]] == ["task.copy"]
    assert plan["resource_changes"][0]["change"]["actions"] == ["update"]
    ws.run("apply", "--auto-approve")
    assert ws.agent_pid("task.copy")
    supervisor_log = ws.runtime / "supervisor.log"
    assert ws.supervisor_pid(), supervisor_log.read_text() if supervisor_log.exists() else "no supervisor.log"
    execute(ws.root / "shop.db", "INSERT INTO orders VALUES (3, 'after restart')")
    wait_for(lambda: (3, "after restart") in rows(ws.root / "replica.db", "orders"), what="replication after restart")
    assert ws.run("plan", "--detailed-exitcode", check=False).returncode == 0


@pytest.mark.e2e
def test_supervisor_marks_a_task_failed_after_its_retry_window(workspace: Workspace) -> None:
    ws = workspace
    execute(ws.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
    ws.write("main.dts.yaml", DECLARATION.replace("    outputs:", "        retry: {other_minutes: 0.02}\n    outputs:"))
    ws.write("secret.dtsvars.yaml", "hidden_note: x\n")
    ws.run("apply", "--auto-approve")
    ws.run("wait", "task.copy", "--timeout", "60")
    config = ws.root / ".dtsctl" / "tasks" / "task.copy" / "config.json"
    broken = json.loads(config.read_text())
    broken["declared"]["objects"] = None  # what the agent reads of its declaration: it now crashes on every start
    config.write_text(json.dumps(broken))
    os.kill(ws.agent_pid("task.copy"), signal.SIGKILL)
    wait_for(lambda: ws.status("task.copy")["state"] == "failed", timeout=30, what="the task to be marked failed")
    assert ws.status("task.copy")["last_error"]
