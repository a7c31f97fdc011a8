"""A subscription task on the cluster runtime end to end through the CLI: a real etcd, a 3-server
NATS JetStream cluster, a MariaDB source and two `dtsctl node run` processes. The records go to
JetStream; kill -9 of the owning host moves the task to the other node, and `dtsctl consume`
reads every source row exactly once, in order; destroy deletes the stream."""

from __future__ import annotations

import json
import threading
import time

import pytest

from dtsctl.engine.subscription.jetstream import JetStreamStore
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, NatsSettings
from dtsctl.engine.subscription.store import StoreMissing
from dtsctl.engine.subscription.stores import record_store_attribute
from tests.e2e.cli import Workspace, wait_for
from tests.e2e.cluster.nodes import NodeProcess
from tests.servers.etcd import EtcdCluster
from tests.servers.mariadb import MariaDBServer
from tests.servers.nats import PASSWORD, USER, NatsCluster

pytestmark = pytest.mark.e2e
TTL = 10
PREFIX = "/dtsctl/subs"
NATS_ENV = {PASSWORD_ENV: PASSWORD}


@pytest.fixture
def etcd():
    cluster = EtcdCluster(1).start()
    yield cluster
    cluster.close()


@pytest.fixture
def nats_cluster():
    cluster = NatsCluster(3).start()
    yield cluster
    cluster.close()


def declaration(etcd: EtcdCluster, nats: NatsCluster, src: MariaDBServer, database: str) -> str:
    return f"""
        workspace:
          runtime:
            backend: etcd
            endpoints: {json.dumps(etcd.endpoints)}
            prefix: {PREFIX}
            lease_seconds: {TTL}
            subscriptions: {{nats: {json.dumps(nats.urls)}, replicas: 3, username: {USER}}}
        endpoints:
          src: {{engine: mysql, host: 127.0.0.1, port: {src.port}, user: root, password: ''}}
        tasks:
          feed:
            type: subscription
            source: src
            objects: [{{database: {database}, tables: [items]}}]
            consumer_groups: [cache]
            retry: {{connection_minutes: 2, other_minutes: 2}}
        """


class Inserts(threading.Thread):
    """One-row transactions on the source, ids 1, 2, 3 ... until stopped."""

    def __init__(self, server: MariaDBServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.stop, self.count = server, database, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.server.execute(f"INSERT INTO `{self.database}`.items (id, v) VALUES ({self.count + 1}, 'v')")
            self.count += 1
            time.sleep(0.02)


def consume(workspace: Workspace, *args: str) -> list[dict]:
    # an idle source still gets a heartbeat record every 5 s: stop after 3 s without records
    result = workspace.run("consume", "task.feed", "--group", "cache", "--timeout", "3", *args, env=NATS_ENV)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_records_in_jetstream_survive_the_owning_host_and_are_read_exactly_once(
        etcd, nats_cluster, mariadb_source, fresh_database, workspace, nodes, tmp_path):
    src = mariadb_source
    database = fresh_database(src)
    src.execute(f"CREATE TABLE `{database}`.items (id INT PRIMARY KEY, v VARCHAR(20))")
    for name in ("n1", "n2"):
        nodes.append(NodeProcess(tmp_path / "hosts", name, etcd.endpoints, PREFIX,
                                 env={"DTSCTL_SECRET_SRC_PASSWORD": "", **NATS_ENV}).start())
    workspace.write("main.dts.yaml", declaration(etcd, nats_cluster, src, database))
    workspace.run("apply", "--auto-approve")
    # phase incremental: the stream's start on the source is fixed, what is written from now on is recorded
    owner = wait_for(lambda: workspace.status("task.feed").get("phase") == "incremental"
                     and workspace.status("task.feed").get("node"), timeout=60, what="the task running on a node")
    wait_for(lambda: "subscription" in json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0],
             what="the stream in status")

    load = Inserts(src, database)
    load.start()
    try:
        wait_for(lambda: load.count > 50, what="rows written")
        first = consume(workspace, "--max-records", "30")  # a consumer reads and commits before the failure
        next(node for node in nodes if node.name == owner).kill()
        failed_at = time.monotonic()
        survivor = next(node for node in nodes if node.name != owner)
        wait_for(lambda: workspace.status("task.feed").get("node") == survivor.name, timeout=40,
                 what=f"{survivor.name} taking over\n{survivor.tail()}")
        stream = json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0]["subscription"]
        wait_for(lambda: json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0]
                 ["subscription"]["retained"]["last_seq"] > stream["retained"]["last_seq"], timeout=40,
                 what="the new owner recording")
        print(f"subscription takeover: recording again {time.monotonic() - failed_at:.1f}s after kill -9 (TTL {TTL}s)")
        time.sleep(1)
    finally:
        load.stop.set()
        load.join()
    rows = [row[0] for row in src.query(f"SELECT id FROM `{database}`.items ORDER BY id")]
    wait_for(lambda: json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0]
             ["subscription"]["groups"][0]["lag_records"] >= 3 * len(rows) - 30, timeout=60, what="every row recorded")
    rest = consume(workspace)
    records = first + rest
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # dense, each once, in order
    assert [r["after"]["id"] for r in records if r["op"] == "insert"] == rows
    assert [r["op"] for r in records if r["op"] != "heartbeat"] == ["begin", "insert", "commit"] * len(rows)
    assert [r for r in consume(workspace) if r["op"] != "heartbeat"] == []  # all committed

    record_store = record_store_attribute({"backend": "etcd", "prefix": PREFIX,
                                           "subscriptions": {"nats": nats_cluster.urls, "username": USER}},
                                          "task.feed")
    workspace.run("destroy", "--auto-approve", env=NATS_ENV)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_ENV, PASSWORD)
        with pytest.raises(StoreMissing):
            JetStreamStore(NatsSettings.from_attribute(record_store), create=False)
