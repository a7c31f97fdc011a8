"""The whole life of a SQLite-to-SQLite synchronization, through the CLI.

create -> rows copied -> live changes -> kill -9 under a write loop -> the
supervisor restarts the agent -> destination equals source -> pause in place
-> resume -> a table added in place -> destroy.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace, execute, processes_mentioning, rows, same_rows, wait_for

ADDRESS = "task.shop_sync"


def declaration(tables: list[str], status: str = "running") -> str:
    return f"""
        endpoints:
          shop: {{engine: sqlite, path: ./shop.db}}
          replica: {{engine: sqlite, path: ./replica.db}}
        tasks:
          shop_sync:
            type: synchronization
            source: shop
            destination: replica
            objects:
              - database: main
                tables: {json.dumps(tables)}
            status: {status}
        outputs:
          state: ${{ task.shop_sync.state }}
        """


def seed(db: Path) -> None:
    execute(
        db,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, note TEXT)",
        "CREATE TABLE items (sku TEXT PRIMARY KEY, title TEXT, price INTEGER)",
        "CREATE INDEX orders_by_customer ON orders (customer_id)",
        *(f"INSERT INTO customers VALUES ({i}, 'customer {i}')" for i in range(1, 51)),
        *(f"INSERT INTO orders VALUES ({i}, {i % 50 + 1}, {i * 1.5}, NULL)" for i in range(1, 501)),
        *(f"INSERT INTO items VALUES ('sku-{i}', 'item {i}', {i * 100})" for i in range(1, 31)),
    )


class WriteLoop(threading.Thread):
    """Inserts, updates and deletes on the source until stopped, like an application would."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.transactions = 0

    def run(self) -> None:
        generator = random.Random(7)
        connection = sqlite3.connect(self.db, timeout=30)
        next_id = 10_000
        while not self.stop.is_set():
            with connection:
                next_id += 1
                connection.execute("INSERT INTO orders VALUES (?, ?, ?, 'loop')", (next_id, 1, next_id / 7))
                connection.execute("UPDATE orders SET amount = amount + 1 WHERE id = ?", (generator.randint(1, 500),))
                connection.execute("DELETE FROM orders WHERE id = ?", (generator.randint(1, 500),))
                connection.execute("UPDATE customers SET name = name || '+' WHERE id = ?", (generator.randint(1, 50),))
            self.transactions += 1
            self.stop.wait(0.005)
        connection.close()


def destination_matches(ws: Workspace, tables: list[str]) -> bool:
    return all(same_rows(ws.root / "shop.db", ws.root / "replica.db", t) for t in tables)


def capture_objects(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '%dtsctl%' AND type IN ('trigger', 'table')")]


@pytest.mark.e2e
def test_sqlite_synchronization_lifecycle(workspace: Workspace) -> None:
    ws = workspace
    shop, replica = ws.root / "shop.db", ws.root / "replica.db"
    seed(shop)
    ws.write("main.dts.yaml", declaration(["customers", "orders"]))
    ws.run("init")

    # create: schema + full copy, then live replication
    plan = json.loads(ws.run("plan", "--json").stdout)
    assert plan["summary"] == {"add": 1, "change": 0, "destroy": 0}
    ws.run("apply", "--auto-approve")
    ws.run("wait", ADDRESS, "--phase", "incremental", "--timeout", "60")
    assert ws.status(ADDRESS)["rows_copied"] == 550
    assert destination_matches(ws, ["customers", "orders"])
    assert ws.supervisor_pid() is not None

    # live inserts, updates and deletes
    execute(shop, "INSERT INTO orders VALUES (9001, 1, 1.25, 'live')",
            "UPDATE customers SET name = 'renamed' WHERE id = 3", "DELETE FROM orders WHERE id = 10",
            "UPDATE orders SET id = 9002 WHERE id = 11")
    wait_for(lambda: destination_matches(ws, ["customers", "orders"]), what="live changes on the replica")

    # kill -9 the agent while a write loop runs: the supervisor restarts it, nothing is lost
    loop = WriteLoop(shop)
    loop.start()
    wait_for(lambda: loop.transactions > 50, what="write loop to get going")
    victim = ws.agent_pid(ADDRESS)
    os.kill(victim, signal.SIGKILL)
    restarted = wait_for(lambda: (pid := ws.agent_pid(ADDRESS)) and pid != victim and pid, timeout=30,
                         what="the supervisor to restart the agent")
    wait_for(lambda: loop.transactions > 300, timeout=60, what="writes after the restart")
    loop.stop.set()
    loop.join()
    wait_for(lambda: destination_matches(ws, ["customers", "orders"]), timeout=60, what="convergence after kill -9")
    assert ws.status(ADDRESS)["state"] == "running"
    assert ws.agent_pid(ADDRESS) == restarted

    # pause in place: agent gone, checkpoint kept; writes made during the pause arrive after resume
    ws.write("main.dts.yaml", declaration(["customers", "orders"], status="paused"))
    plan = json.loads(ws.run("plan", "--json").stdout)
    assert plan["resource_changes"][0]["change"]["actions"] == ["update"]
    ws.run("apply", "--auto-approve")
    paused = ws.status(ADDRESS)
    assert paused["state"] == "paused" and paused["pid"] is None
    execute(shop, "INSERT INTO orders VALUES (9100, 2, 5.0, 'during pause')")
    assert (9100,) not in [(row[0],) for row in rows(replica, "orders")]
    copied_before = paused["rows_copied"]
    ws.write("main.dts.yaml", declaration(["customers", "orders"]))
    ws.run("apply", "--auto-approve")
    wait_for(lambda: destination_matches(ws, ["customers", "orders"]), what="writes made during the pause")
    assert ws.status(ADDRESS)["rows_copied"] == copied_before, "resume must not copy again"

    # add a table in place: only that table is copied
    ws.write("main.dts.yaml", declaration(["customers", "orders", "items"]))
    plan = json.loads(ws.run("plan", "--json").stdout)
    assert plan["resource_changes"][0]["change"]["actions"] == ["update"]
    ws.run("apply", "--auto-approve")
    wait_for(lambda: destination_matches(ws, ["customers", "orders", "items"]), what="the added table")
    wait_for(lambda: ws.status(ADDRESS)["rows_copied"] == copied_before + 30, what="only the new table copied")
    execute(shop, "UPDATE items SET price = 1 WHERE sku = 'sku-1'")
    wait_for(lambda: destination_matches(ws, ["items"]), what="live change on the added table")
    assert json.loads(ws.run("output", "state", "--json").stdout) == "running"

    # destroy: processes gone, capture objects removed, destination data untouched
    kept = {t: rows(replica, t) for t in ("customers", "orders", "items")}
    agent = ws.agent_pid(ADDRESS)
    ws.run("destroy", "--auto-approve")
    assert ws.agent_pid(ADDRESS) is None and agent is not None
    wait_for(lambda: ws.supervisor_pid() is None, what="the supervisor to exit")
    assert capture_objects(shop) == []
    assert {t: rows(replica, t) for t in kept} == kept
    assert ws.run("state", "list").stdout.strip() == ""


def test_a_task_can_be_paused_while_its_source_is_unreachable(workspace: Workspace) -> None:
    seed(workspace.root / "shop.db")
    workspace.write("main.dts.yaml", declaration(["orders"]))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", ADDRESS, "--timeout", "60")
    (workspace.root / "shop.db").rename(workspace.root / "away.db")  # the source is gone, as in an outage
    workspace.write("main.dts.yaml", declaration(["orders"], status="paused"))
    workspace.run("apply", "--auto-approve")
    assert workspace.status(ADDRESS)["pid"] is None
    workspace.write("main.dts.yaml", declaration(["orders"]))
    refused = workspace.run("apply", "--auto-approve", check=False)
    assert refused.returncode == 1 and "shop.db" in refused.stderr, "resuming runs the precheck"
    assert processes_mentioning(str(workspace.runtime / "tasks" / ADDRESS)) == [], \
        "the agent started ahead of the failed precheck is gone with it"
    (workspace.root / "away.db").rename(workspace.root / "shop.db")
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", ADDRESS, "--timeout", "60")
    assert same_rows(workspace.root / "shop.db", workspace.root / "replica.db", "orders")


def test_a_duplicate_start_leaves_the_live_agent_visible(workspace: Workspace) -> None:
    """The supervisor may start an agent the CLI has just started; the duplicate exits at once
    (the lock is held) and must not leave its dead pid where the live agent's is."""
    from dtsctl.runtime.agent_control import Agent
    from dtsctl.runtime.layout import RuntimePaths

    seed(workspace.root / "shop.db")
    workspace.write("main.dts.yaml", declaration(["orders"]))
    workspace.run("apply", "--auto-approve")
    live = workspace.agent_pid(ADDRESS)
    assert live is not None
    Agent(RuntimePaths(workspace.runtime), ADDRESS).start()
    assert workspace.agent_pid(ADDRESS) == live


def test_a_supervisor_restart_racing_a_start_never_names_its_duplicate(workspace: Workspace) -> None:
    """The supervisor can look before a just-started agent has written agent.pid and start a
    duplicate, which exits at once (the lock is held). The file must never name that duplicate:
    the live agent writes it (here, as if it were about to), and only a lock holder may."""
    from dtsctl.runtime.agent_control import START_HANDSHAKE_SECONDS, Agent
    from dtsctl.runtime.layout import RuntimePaths
    from dtsctl.runtime.supervisor import Supervisor

    seed(workspace.root / "shop.db")
    workspace.write("main.dts.yaml", declaration(["orders"]))
    workspace.run("apply", "--auto-approve")
    live = workspace.agent_pid(ADDRESS)
    assert live is not None
    runtime = RuntimePaths(workspace.runtime)
    runtime.task(ADDRESS).pid.unlink()  # the moment before the live agent writes it
    supervisor = Supervisor(runtime)
    # past the grace it gives an agent apply is starting, as when the live one is slow to come up
    supervisor._watch(Agent(runtime, ADDRESS), time.time() + START_HANDSHAKE_SECONDS + 1)
    [duplicate] = supervisor.children
    duplicate.wait(timeout=30)
    assert duplicate.returncode == 0, "the duplicate found the lock held and stepped aside"
    assert not runtime.task(ADDRESS).pid.exists(), "the supervisor wrote the duplicate's pid"
