"""The cluster failure harness with a Redis synchronization task: 3 etcd members and 3 hosts, each
in its own network namespace; under a write load (INCRs among the writes) the host owning the
task is killed (kill -9), then the next owner is frozen with SIGSTOP and thawed after another
host took over (fencing). The new owners continue the source's replication stream from the
destination checkpoint (PSYNC, no full resync); the destination ends equal to the source key by
key, every INCR applied once, and the fence key holds the current owner's token. The takeover
times are printed."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable

import pytest

from dtsctl.cluster.store import EtcdStore
from dtsctl.config.model import Runtime
from tests.e2e.cli import wait_for
from tests.e2e.cluster.nodes import NodeProcess
from tests.e2e.cluster.test_failures import PASSWORD, PREFIX, TTL, Harness, etcd, network  # noqa: F401 (fixtures)
from tests.integration.redis.conftest import differences
from tests.integration.redis.data import seed, write_load
from tests.servers.etcd import EtcdCluster

pytestmark = pytest.mark.e2e


def declaration(etcd: EtcdCluster, gateway: str, src_port: int, dst_port: int) -> str:
    def endpoint(port: int) -> str:
        return f"{{engine: redis, host: {gateway}, port: {port}, password: {PASSWORD}}}"

    return f"""
        workspace:
          runtime: {{backend: etcd, endpoints: {json.dumps(etcd.endpoints)}, prefix: {PREFIX}, lease_seconds: {TTL}}}
        endpoints:
          src: {endpoint(src_port)}
          dst: {endpoint(dst_port)}
        tasks:
          a:
            type: synchronization
            source: src
            destination: dst
            objects: [{{database: 0}}]
            retry: {{connection_minutes: 5, other_minutes: 5}}
        """


def test_a_redis_task_survives_a_killed_and_a_frozen_owner_without_loss(network, etcd, nodes,  # noqa: F811
                                                                        redis_factory, workspace, tmp_path):
    reachable = [f"bind 127.0.0.1 {network.gateway}"]
    # the backlog holds what the load writes from the failure to the new owner's PSYNC (TTL and a start)
    src = redis_factory(config=[*reachable, "repl-backlog-size 64mb"], password=PASSWORD)
    dst = redis_factory(config=reachable, password=PASSWORD)
    source, destination = src.client(), dst.client()
    seed(source)
    env = {"DTSCTL_SECRET_SRC_PASSWORD": PASSWORD, "DTSCTL_SECRET_DST_PASSWORD": PASSWORD}
    nodes += [NodeProcess(tmp_path / "hosts", f"n{i}", etcd.endpoints, PREFIX, slots=1, env=env,
                          wrap=network.wrap(i)).start() for i in range(3)]
    workspace.write("main.dts.yaml", declaration(etcd, network.gateway, src.port, dst.port))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.a", "--timeout", "90")
    harness = Harness(workspace, nodes, EtcdStore(Runtime(backend="etcd", endpoints=etcd.endpoints, prefix=PREFIX)))
    stop = threading.Event()
    load = threading.Thread(target=write_load, args=(src.client(), "", stop), daemon=True)
    load.start()
    failures: list[tuple[str, Callable[[NodeProcess], object], Callable[[NodeProcess], object]]] = [
        # the host dies (the node and its agents), then comes back as a spare
        ("kill -9 of the owning host", NodeProcess.kill, NodeProcess.start),
        # the host freezes, another takes over, then it thaws: fencing keeps it out
        ("SIGSTOP of the owning host", lambda node: node.signal_all(signal.SIGSTOP),
         lambda node: node.signal_all(signal.SIGCONT)),
    ]
    try:
        for failure, fail, recover in failures:
            owner = harness.owner()
            harness.wait_applying("task.a")
            fail(owner)
            harness.wait_takeover(failure, owner, time.monotonic())
            recover(owner)
        harness.wait_applying("task.a")
    finally:
        stop.set()
        load.join()
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        last = differences(source, destination)
        return not last

    wait_for(equal, timeout=90, what=f"the destination equal to the source key by key\n{harness.tails()}\n{last[:10]}")
    assert int(destination.get("counter")) == int(source.get("counter"))  # every INCR applied exactly once
    status = workspace.status("task.a")
    assert status["full_resyncs"] == 0, status["full_resync_reason"]  # the new owner continued the stream
    state = json.loads((workspace.root / "state" / "dtsctl.state.json").read_text())
    task_id = state["resources"][0]["task_id"]
    assert destination.get(f"dtsctl:fence:{task_id}") == str(harness.owner_token("task.a")).encode()
    print("\nRedis failure table (TTL %ds):" % TTL)
    for failure, owned, applying in harness.takeovers:
        print(f"  {failure}: new owner after {owned:.1f}s, applying again after {applying:.1f}s")
    workspace.run("destroy", "--auto-approve")
    assert destination.keys("dtsctl:*") == []  # the checkpoint and the fence key went with the task
