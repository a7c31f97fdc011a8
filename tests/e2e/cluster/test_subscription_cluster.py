"""A subscription task on the cluster runtime end to end through the CLI: a real etcd, a 3-server
NATS JetStream cluster, a MariaDB source and two `dtsctl node run` processes. The records go to
JetStream; kill -9 of the owning host moves the task to the other node, and `dtsctl consume`
reads every source row exactly once, in order; destroy deletes the stream."""

from __future__ import annotations

import json
import time

import pytest

from dtsctl.engine.subscription.jetstream import JetStreamStore
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, NatsSettings
from dtsctl.engine.subscription.store import StoreMissing
from dtsctl.engine.subscription.stores import record_store_attribute
from tests.e2e.cli import Workspace, wait_for
from tests.e2e.cluster.nodes import NodeProcess
from tests.e2e.cluster.subscription import TTL, Inserts, assert_each_row_once, declaration
from tests.e2e.cluster.test_cluster_cli import etcd  # noqa: F401 (a fixture: one etcd member)
from tests.servers.nats import PASSWORD, USER, NatsCluster

pytestmark = pytest.mark.e2e
PREFIX = "/dtsctl/subs"
NATS_ENV = {PASSWORD_ENV: PASSWORD}


@pytest.fixture
def nats_cluster():
    cluster = NatsCluster(3).start()
    yield cluster
    cluster.close()


def consume(workspace: Workspace, *args: str, group: str = "cache") -> list[dict]:
    # an idle source still gets a heartbeat record every 5 s: stop after 3 s without records
    result = workspace.run("consume", "task.feed", "--group", group, "--timeout", "3", *args, env=NATS_ENV)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_records_in_jetstream_survive_the_owning_host_and_are_read_exactly_once(
        etcd, nats_cluster, mariadb_source, fresh_database, workspace, nodes, tmp_path):
    src = mariadb_source
    database = fresh_database(src)
    src.execute(f"CREATE TABLE `{database}`.items (id INT PRIMARY KEY, v VARCHAR(20))")
    for name in ("n1", "n2"):
        nodes.append(NodeProcess(tmp_path / "hosts", name, etcd.endpoints, PREFIX,
                                 env={"DTSCTL_SECRET_SRC_PASSWORD": "", **NATS_ENV}).start())
    source = f"{{engine: mysql, host: 127.0.0.1, port: {src.port}, user: root, password: ''}}"
    workspace.write("main.dts.yaml", declaration(etcd.endpoints, nats_cluster.urls, PREFIX, source, database, "[cache]"))
    workspace.run("apply", "--auto-approve")
    # phase incremental: the stream's start on the source is fixed, what is written from now on is recorded
    owner = wait_for(lambda: workspace.status("task.feed").get("phase") == "incremental"
                     and workspace.status("task.feed").get("node"), timeout=60, what="the task running on a node")
    wait_for(lambda: "subscription" in json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0],
             what="the stream in status")
    # without the NATS password: status still answers, and consume says what is missing
    assert PASSWORD_ENV in workspace.status("task.feed")["subscription"]["unavailable"]
    refused = workspace.run("consume", "task.feed", "--group", "cache", "--timeout", "1", check=False)
    assert refused.returncode == 1 and f"needs its password in {PASSWORD_ENV}" in refused.stderr
    assert "Traceback" not in refused.stderr

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
    assert_each_row_once(first + rest, rows)
    assert [r for r in consume(workspace) if r["op"] != "heartbeat"] == []  # all committed

    # a group added in place: the owning node's agent restarts with it, and it reads from the earliest record
    workspace.write("main.dts.yaml", declaration(etcd.endpoints, nats_cluster.urls, PREFIX, source, database,
                                                 "{cache: {}, audit: {start: earliest}}"))
    assert "~ task.feed" in workspace.run("apply", "--auto-approve").stdout
    wait_for(lambda: [g["name"] for g in json.loads(workspace.run("status", "--json", env=NATS_ENV).stdout)["tasks"][0]
                      ["subscription"]["groups"]] == ["audit", "cache"], timeout=60, what="the new group")
    assert_each_row_once(consume(workspace, group="audit"), rows)

    record_store = record_store_attribute({"backend": "etcd", "prefix": PREFIX,
                                           "subscriptions": {"nats": nats_cluster.urls, "username": USER}},
                                          "task.feed")
    workspace.run("destroy", "--auto-approve", env=NATS_ENV)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_ENV, PASSWORD)
        with pytest.raises(StoreMissing):
            JetStreamStore(NatsSettings.from_attribute(record_store), create=False)
