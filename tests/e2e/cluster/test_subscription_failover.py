"""A subscription task in the cluster failure harness: 3 etcd members and 3 NATS JetStream servers
on the bridge, 3 `dtsctl node run` hosts each in its own network namespace, a MariaDB source under
a write load. `dtsctl consume` reads the task's records from another namespace while the owning
host is killed with -9, then one NATS server; another host takes the task over, and the consumer
receives every source row exactly once, in order. The takeover time (kill to the new owner recording) is printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dtsctl.cluster.keys import task_key
from dtsctl.cluster.store import EtcdStore
from dtsctl.config.model import Runtime
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV
from tests.e2e.cli import wait_for
from tests.e2e.cluster.nodes import NodeProcess
from tests.e2e.cluster.subscription import TTL, Inserts, assert_each_row_once, declaration
from tests.e2e.cluster.test_failures import PASSWORD, etcd, network, reachable_server  # noqa: F401 (fixtures)
from tests.servers.nats import PASSWORD as NATS_PASSWORD
from tests.servers.nats import NatsCluster

pytestmark = pytest.mark.e2e
PREFIX = "/dtsctl/subharness"
ADDRESS = "task.feed"


@pytest.fixture
def nats_cluster(network):
    """Three NATS JetStream servers on the bridge, next to etcd, where every namespace reaches them."""
    cluster = NatsCluster(3, host=network.gateway).start()
    yield cluster
    cluster.close()


def read_lines(path) -> list[dict]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def test_a_consumer_in_another_namespace_reads_every_row_once_across_a_killed_host(
        network, etcd, nats_cluster, nodes, mariadb_factory, fresh_database, workspace, tmp_path):
    src = reachable_server(mariadb_factory, network)
    database = fresh_database(src)
    src.execute(f"CREATE TABLE `{database}`.items (id INT PRIMARY KEY, v VARCHAR(20))")
    env = {"DTSCTL_SECRET_SRC_PASSWORD": PASSWORD, PASSWORD_ENV: NATS_PASSWORD}
    nodes += [NodeProcess(tmp_path / "hosts", f"n{i}", etcd.endpoints, PREFIX, slots=1, env=env,
                          wrap=network.wrap(i)).start() for i in range(3)]
    source = f"{{engine: mysql, host: {network.gateway}, port: {src.port}, user: dts, password: {PASSWORD}}}"
    workspace.write("main.dts.yaml", declaration(etcd.endpoints, nats_cluster.urls, PREFIX, source, database, "[audit]"))
    workspace.run("apply", "--auto-approve")
    store = EtcdStore(Runtime(backend="etcd", endpoints=etcd.endpoints, prefix=PREFIX))

    def owner() -> str | None:
        entry = store.get(task_key(store, ADDRESS, "owner"))
        return (entry.value or {}).get("node") if entry is not None else None

    def status() -> dict:
        entry = store.get(task_key(store, ADDRESS, "status"))
        return entry.value if entry is not None else {}

    # phase incremental: the stream's start on the source is fixed, what is written from now on is recorded
    first_owner = wait_for(lambda: status().get("phase") == "incremental" and owner(), timeout=90,
                           what="the subscription running on a host")
    consumer_host = next(i for i in range(3) if f"n{i}" != first_owner)
    out = tmp_path / "consumed.jsonl"
    consumer_env = {**{k: v for k, v in os.environ.items() if not k.startswith("DTSCTL_")}, PASSWORD_ENV: NATS_PASSWORD}
    with open(out, "wb") as stdout, open(tmp_path / "consumer.log", "wb") as stderr:
        consumer = subprocess.Popen([*network.wrap(consumer_host), sys.executable, "-m", "dtsctl", "-C",
                                     str(workspace.root), "consume", ADDRESS, "--group", "audit"],
                                    stdout=stdout, stderr=stderr, env=consumer_env, start_new_session=True)
    load = Inserts(src, database)
    try:
        load.start()
        wait_for(lambda: len(read_lines(out)) > 100, timeout=60, what=f"records read in n{consumer_host}'s namespace")
        killed = next(node for node in nodes if node.name == first_owner)
        killed.kill()
        failed_at = time.monotonic()
        wait_for(lambda: owner() not in (None, first_owner), timeout=40, interval=0.05,
                 what=f"a takeover\n{[node.tail() for node in nodes]}")
        owned_after = time.monotonic() - failed_at
        seen = len(read_lines(out))
        wait_for(lambda: len(read_lines(out)) > seen + 30, timeout=40, interval=0.05,
                 what=f"records of the new owner\n{(tmp_path / 'consumer.log').read_text()}")
        print(f"subscription takeover after kill -9: new owner {owned_after:.1f}s, records flowing again "
              f"{time.monotonic() - failed_at:.1f}s (TTL {TTL}s)")
        # then one NATS server dies: the stream and the groups have two more replicas
        nats_cluster.servers[0].kill()
        seen = len(read_lines(out))
        wait_for(lambda: len(read_lines(out)) > seen + 30, timeout=40, interval=0.05,
                 what=f"records after a NATS server died\n{(tmp_path / 'consumer.log').read_text()}")
        load.stop.set()
        load.join()
        rows = [row[0] for row in src.query(f"SELECT id FROM `{database}`.items ORDER BY id")]
        wait_for(lambda: sum(r["op"] == "insert" for r in read_lines(out)) >= len(rows), timeout=60,
                 what="every row read")
    finally:
        load.stop.set()
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=30)
    assert_each_row_once(read_lines(out), rows)
