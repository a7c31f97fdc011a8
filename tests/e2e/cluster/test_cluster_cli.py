"""The cluster runtime end to end through the CLI: a real etcd, MariaDB source and destination,
two `dtsctl node run` processes; apply from the workspace, status and `node list` show the owner,
kill -9 of the owning host moves the task to the other node without loss or duplicates, and
destroy tears the task down through its node."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from tests.e2e.cli import Workspace, wait_for
from tests.e2e.cluster.nodes import NodeProcess
from tests.e2e.test_mysql_cli import WriteLoad, same, seed_shop
from tests.servers.etcd import EtcdCluster
from tests.servers.mariadb import MariaDBServer

pytestmark = pytest.mark.e2e
TTL = 10
SECRET_ENV = {"DTSCTL_SECRET_SRC_PASSWORD": "", "DTSCTL_SECRET_DST_PASSWORD": ""}


@pytest.fixture
def etcd():
    cluster = EtcdCluster(1).start()
    yield cluster
    cluster.close()


def declaration(etcd: EtcdCluster, src: MariaDBServer, dst: MariaDBServer, database: str,
                status: str = "running") -> str:
    return f"""
        workspace:
          runtime: {{backend: etcd, endpoints: {json.dumps(etcd.endpoints)}, prefix: /dtsctl/test, lease_seconds: {TTL}}}
        endpoints:
          src: {{engine: mysql, host: 127.0.0.1, port: {src.port}, user: root, password: ''}}
          dst: {{engine: mysql, host: 127.0.0.1, port: {dst.port}, user: root, password: ''}}
        tasks:
          copy:
            type: synchronization
            source: src
            destination: dst
            objects: [{{database: {database}, all: true, rename: {database}_copy}}]
            retry: {{connection_minutes: 2, other_minutes: 2}}
            status: {status}
        """


def test_apply_runs_on_a_node_and_a_killed_host_hands_over_without_loss(etcd, mariadb_pair, fresh_database, workspace,
                                                                         nodes, tmp_path):
    src, dst = mariadb_pair
    database = fresh_database(src)
    seed_shop(src, database, orders=2_000)
    for name in ("n1", "n2"):
        nodes.append(NodeProcess(tmp_path / "hosts", name, etcd.endpoints, "/dtsctl/test", env=SECRET_ENV).start())
    workspace.write("main.dts.yaml", declaration(etcd, src, dst, database))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    owner = wait_for(lambda: workspace.status("task.copy").get("node"), what="an owner in status")
    listing = json.loads(workspace.run("node", "list", "--json").stdout)["nodes"]
    assert {node["name"]: node["tasks"] for node in listing} == {
        "n1": ["task.copy"] if owner == "n1" else [], "n2": ["task.copy"] if owner == "n2" else []}
    assert not workspace.runtime.joinpath("tasks").exists()  # nothing runs on the applying machine
    assert "No changes." in workspace.run("plan").stdout  # refresh reads the owner's observation from etcd
    table = workspace.run("status").stdout.splitlines()
    assert table[0].split()[6] == "NODE" and table[1].split()[6] == owner
    logs = workspace.run("logs", "task.copy", check=False)
    assert logs.returncode == 1 and f"task.copy runs on node {owner}: its log is agent.log" in logs.stderr

    owning = next(node for node in nodes if node.name == owner)
    workspace.write("main.dts.yaml", declaration(etcd, src, dst, database, status="paused"))
    workspace.run("apply", "--auto-approve")  # returns once the owner has stopped the agent
    assert workspace.status("task.copy")["state"] == "paused" and not owning.agent_pids()
    workspace.write("main.dts.yaml", declaration(etcd, src, dst, database))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")

    load = WriteLoad(src, database)
    load.start()
    try:
        wait_for(lambda: workspace.status("task.copy")["events_applied"] > 50, what="changes applied")
        killed = next(node for node in nodes if node.name == owner)
        killed.kill()
        failed_at = time.monotonic()
        survivor = next(node for node in nodes if node.name != owner)
        wait_for(lambda: workspace.status("task.copy").get("node") == survivor.name, timeout=40,
                 what=f"{survivor.name} taking over\n{survivor.tail()}")
        applied = workspace.status("task.copy")["events_applied"]
        wait_for(lambda: workspace.status("task.copy")["events_applied"] > applied, timeout=40,
                 what="the new owner applying")
        print(f"takeover: applying again {time.monotonic() - failed_at:.1f}s after kill -9 (TTL {TTL}s)")
    finally:
        load.stop.set()
        load.join()
    wait_for(lambda: same(src, database, dst, f"{database}_copy", ["orders", "customers"]), timeout=60, what="destination equal")
    assert workspace.status("task.copy")["conflicts"] == {"insert": 0, "update": 0, "delete": 0}

    task_id = json.loads((workspace.root / "state" / "dtsctl.state.json").read_text())["resources"][0]["task_id"]
    assert dst.query("SELECT task_id FROM dtsctl_meta.checkpoints WHERE task_id = %s", task_id)
    workspace.run("destroy", "--auto-approve")
    # by the node: the last task writing there takes dtsctl's bookkeeping with it
    assert not dst.query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'dtsctl_meta'")
    assert json.loads(workspace.run("node", "list", "--json").stdout)["nodes"][0]["tasks"] == []


def test_tasks_the_cluster_runtime_cannot_run_are_refused_in_the_users_words(etcd, workspace, tmp_path):
    source = tmp_path / "source.db"
    sqlite3.connect(source).execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").connection.commit()
    workspace.write("main.dts.yaml", f"""
        workspace:
          runtime: {{backend: etcd, endpoints: {json.dumps(etcd.endpoints)}}}
        endpoints:
          lake: {{engine: sqlite, path: {source}}}
        tasks:
          feed:
            type: subscription
            source: lake
            objects: [{{database: main, all: true}}]
        """)
    result = workspace.run("apply", "--auto-approve", check=False)
    assert result.returncode == 1
    assert ("task.feed: a subscription on the etcd runtime keeps its records in NATS JetStream; name its servers "
            "in `workspace.runtime.subscriptions`") in result.stderr
    assert "Traceback" not in result.stderr
    state = workspace.root / "state" / "dtsctl.state.json"
    assert not state.exists() or json.loads(state.read_text())["resources"] == []  # nothing recorded
    assert not sqlite3.connect(source).execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
