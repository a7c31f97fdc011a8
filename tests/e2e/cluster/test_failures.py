"""The cluster failure harness: a 3-member etcd cluster and 3 `dtsctl node run` hosts, each in its
own network namespace, running two MariaDB synchronization tasks under a write load, through:
kill -9 of a host, its network link cut and restored, kill -9 of the etcd leader, and a host
frozen with SIGSTOP, then thawed (fencing). Each failure hits the host that owns task.a; the
takeover time (failure to the new owner applying) is printed. At the end every destination
equals its source row by row, no change was applied twice (conflict_policy fail counts none),
and each checkpoint row carries its current owner's fencing token."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import pytest

from dtsctl.cluster.keys import task_key
from dtsctl.cluster.store import Entry, EtcdStore, StoreUnavailable
from dtsctl.config.model import Runtime
from tests.e2e.cli import Workspace, wait_for
from tests.e2e.cluster.netns import Network
from tests.e2e.cluster.nodes import NodeProcess
from tests.e2e.test_mysql_cli import WriteLoad, same, seed_shop
from tests.servers.etcd import EtcdCluster
from tests.servers.mariadb import MariaDBServer

pytestmark = pytest.mark.e2e
TTL = 10
ELECTION_SECONDS = 10  # how long the harness's own reads wait out an etcd election
PREFIX = "/dtsctl/harness"
PASSWORD = "harness-pw"
TASKS = ("task.a", "task.b")
NO_CONFLICTS = {"insert": 0, "update": 0, "delete": 0}


@pytest.fixture
def network():
    made = Network(3).create()
    yield made
    made.close()


@pytest.fixture
def etcd(network):
    """Three etcd members listening on the bridge, where every namespace reaches them."""
    cluster = EtcdCluster(3, host=network.gateway).start()
    yield cluster
    cluster.close()


def reachable_server(factory: Callable[..., MariaDBServer], network: Network) -> MariaDBServer:
    server = factory(extra_args=[f"--bind-address=127.0.0.1,{network.gateway}"])
    server.execute("CREATE USER %s@%s IDENTIFIED BY %s", "dts", "10.213.%", PASSWORD)
    server.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", "dts", "10.213.%")
    return server


def declaration(etcd: EtcdCluster, network: Network, src: MariaDBServer, dst: MariaDBServer,
                databases: dict[str, str]) -> str:
    def endpoint(server: MariaDBServer) -> str:
        return f"{{engine: mysql, host: {network.gateway}, port: {server.port}, user: dts, password: {PASSWORD}}}"

    tasks = "".join(f"""
          {name}:
            type: synchronization
            source: src
            destination: dst
            objects: [{{database: {database}, all: true, rename: {database}_copy}}]
            retry: {{connection_minutes: 5, other_minutes: 5}}""" for name, database in databases.items())
    return f"""
        workspace:
          runtime: {{backend: etcd, endpoints: {json.dumps(etcd.endpoints)}, prefix: {PREFIX}, lease_seconds: {TTL}}}
        endpoints:
          src: {endpoint(src)}
          dst: {endpoint(dst)}
        tasks:{tasks}
        """


class Harness:
    """Watches the tasks through etcd directly (what `dtsctl status` shows, without a process per look)."""

    def __init__(self, workspace: Workspace, nodes: list[NodeProcess], store: EtcdStore) -> None:
        self.workspace, self.nodes, self.store = workspace, nodes, store
        self.takeovers: list[tuple[str, float, float]] = []  # failure, seconds to a new owner, to applying
        self.servers: list[MariaDBServer] = []
        self.loads: list[WriteLoad] = []

    def read(self, address: str, part: str) -> Entry | None:
        """A task's key; reads during an etcd election ("leader changed" from every member) are tried
        again for a few seconds, as a node's next pass would."""
        deadline = time.monotonic() + ELECTION_SECONDS
        while True:
            try:
                return self.store.get(task_key(self.store, address, part))
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def status(self, address: str) -> dict:
        entry = self.read(address, "status")
        return entry.value if entry is not None else {}

    def owner_name(self, address: str) -> str | None:
        entry = self.read(address, "owner")
        return (entry.value or {}).get("node") if entry is not None else None

    def owner(self, address: str = "task.a") -> NodeProcess:
        name = wait_for(lambda: self.owner_name(address), what=f"an owner of {address}")
        return next(node for node in self.nodes if node.name == name)

    def applied(self, address: str) -> int:
        return int(self.status(address).get("events_applied", 0))

    def wait_applying(self, address: str, timeout: float = 40) -> None:
        before = self.applied(address)
        wait_for(lambda: self.applied(address) > before, timeout=timeout, interval=0.05,
                 what=f"{address} applying\n{self.tails()}")

    def wait_takeover(self, failure: str, former: NodeProcess, failed_at: float) -> None:
        """Until another node owns task.a and its agent applies changes again; the times are recorded."""
        wait_for(lambda: self.owner_name("task.a") not in (None, former.name), timeout=40, interval=0.05,
                 what=f"a takeover of task.a after {failure}\n{self.tails()}")
        owned_after = time.monotonic() - failed_at
        wait_for(lambda: self.status("task.a").get("node") not in (None, former.name), timeout=40, interval=0.05,
                 what=f"the new owner's status\n{self.tails()}")
        self.wait_applying("task.a")
        self.takeovers.append((failure, owned_after, time.monotonic() - failed_at))

    def tails(self) -> str:
        debug = [f"{server}: {server.query('SHOW PROCESSLIST')}" for server in self.servers]
        debug += [f"load {load.database}: {load.committed} committed" for load in self.loads]
        debug += [f"{address}: owner {self.owner_name(address)}, status {self.status(address)}" for address in TASKS]
        return "\n".join([f"--- {node.name} ---\n{node.tail()}" for node in self.nodes] + debug)

    def owner_token(self, address: str) -> int:
        entry = self.read(address, "owner")
        assert entry is not None, f"{address} has no owner"
        return entry.create_revision


def test_failures_of_hosts_links_and_etcd_members_lose_nothing(network, etcd, nodes, mariadb_factory, fresh_database,
                                                               workspace, tmp_path):
    loads: list[WriteLoad] = []
    try:
        src, dst = reachable_server(mariadb_factory, network), reachable_server(mariadb_factory, network)
        databases = {"a": fresh_database(src), "b": fresh_database(src)}
        for database in databases.values():
            seed_shop(src, database, orders=2_000)
        env = {"DTSCTL_SECRET_SRC_PASSWORD": PASSWORD, "DTSCTL_SECRET_DST_PASSWORD": PASSWORD}
        nodes += [NodeProcess(tmp_path / "hosts", f"n{i}", etcd.endpoints, PREFIX, slots=1, env=env,
                              wrap=network.wrap(i)).start() for i in range(3)]
        workspace.write("main.dts.yaml", declaration(etcd, network, src, dst, databases))
        workspace.run("apply", "--auto-approve")
        for address in TASKS:
            workspace.run("wait", address, "--timeout", "90")
        harness = Harness(workspace, nodes, EtcdStore(Runtime(backend="etcd", endpoints=etcd.endpoints, prefix=PREFIX)))
        assert harness.owner("task.a") != harness.owner("task.b")  # one slot each: spread over two hosts
        loads += [WriteLoad(src, database) for database in databases.values()]
        harness.servers, harness.loads = [src, dst], loads
        for load in loads:
            load.start()

        # kill -9 of the owning host (the node and its agents)
        owner = harness.owner()
        harness.wait_applying("task.a")
        owner.kill()
        harness.wait_takeover("kill -9 of the owning host", owner, time.monotonic())
        owner.start()  # the host comes back as a spare

        # its network link cut, then restored
        owner = harness.owner()
        index = nodes.index(owner)
        network.link_down(index)
        failed_at = time.monotonic()
        harness.wait_takeover("the owning host's link cut", owner, failed_at)
        network.link_up(index)
        wait_for(lambda: owner.name in {n["name"] for n in json.loads(workspace.run("node", "list", "--json").stdout)["nodes"]},
                 timeout=40, what=f"{owner.name} joining again\n{harness.tails()}")

        # kill -9 of the etcd leader: the nodes go on through the other members, no task moves
        owners = {address: harness.owner(address).name for address in TASKS}
        leader = etcd.leader()
        leader.kill()
        failed_at = time.monotonic()
        for address in TASKS:
            harness.wait_applying(address)
        harness.takeovers.append(("kill -9 of the etcd leader (no takeover needed)", 0.0, time.monotonic() - failed_at))
        assert {address: harness.owner(address).name for address in TASKS} == owners
        leader.start()

        # the owning host frozen (SIGSTOP), another takes over, then thawed: fencing
        owner = harness.owner()
        owner.signal_all(signal.SIGSTOP)
        failed_at = time.monotonic()
        harness.wait_takeover("SIGSTOP of the owning host", owner, failed_at)
        owner.signal_all(signal.SIGCONT)
        harness.wait_applying("task.a")
    finally:
        for load in loads:
            load.stop.set()
            load.join()
    for name, database in databases.items():
        wait_for(lambda: same(src, database, dst, f"{database}_copy", ["orders", "customers"]), timeout=90,
                 what=f"task.{name}'s destination equal to its source\n{harness.tails()}")
    for address in TASKS:
        assert workspace.status(address)["conflicts"] == NO_CONFLICTS  # through the CLI, as a user sees it
    tokens = dict(dst.query("SELECT task_id, fencing_token FROM dtsctl_meta.checkpoints"))
    state = json.loads((workspace.root / "state" / "dtsctl.state.json").read_text())
    ids = {resource["address"]: resource["task_id"] for resource in state["resources"]}
    assert {address: tokens[ids[address]] for address in TASKS} == \
        {address: harness.owner_token(address) for address in TASKS}
    print("\nfailure table (TTL %ds):" % TTL)
    for failure, owned, applying in harness.takeovers:
        print(f"  {failure}: new owner after {owned:.1f}s, applying again after {applying:.1f}s")
    workspace.run("destroy", "--auto-approve")
