"""Redis synchronization through the dtsctl CLI, against private redis-server processes.

Covers issue 4's end-to-end list: every type with TTLs under a concurrent write
load with kill -9 during the snapshot and during the stream; key-prefix filter
and DB rename; a source restarted without persistence and an overflowed backlog
(full resync, shown in `status --json`); a 3-node Redis Cluster destination;
one-to-many and cascade topologies applied as a whole; precheck failures each
with its message. Data generators and key-space comparison are the integration
suite's (tests/integration/redis).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.cli import Workspace, wait_for
from tests.integration.redis.conftest import key_space, wait_equal
from tests.integration.redis.data import seed, write_load
from tests.integration.redis.test_replication import _ClusterView
from tests.servers.redis import RedisCluster, RedisServer

pytestmark = pytest.mark.e2e

RETRY = "{connection_minutes: 2, other_minutes: 2}"


def endpoint(server: RedisServer | RedisCluster, password: str | None = None) -> str:
    cluster = isinstance(server, RedisCluster)
    node = server.nodes[0] if cluster else server
    password = password if password is not None else server.password
    return (f"{{engine: redis, host: 127.0.0.1, port: {node.port}"
            + (f", password: '{password}'" if password else "")
            + (", cluster: true" if cluster else "") + "}")


def declaration(src: Any, dst: Any, objects: str = "[{database: 0}]", *, src_password: str | None = None,
                extra: str = "", status: str = "running", on_position_lost: str = "fail") -> str:
    return f"""
        endpoints:
          src: {endpoint(src, src_password)}
          dst: {endpoint(dst)}
        tasks:
          copy:
            type: synchronization
            source: src
            destination: dst
            objects: {objects}
            status: {status}
            on_position_lost: {on_position_lost}
            retry: {RETRY}
        {extra}
        """


@contextmanager
def load(server: RedisServer, *prefixes: str) -> Iterator[list[threading.Thread]]:
    """The integration suite's write load (every write command of the seed list) per prefix, until the block ends."""
    stop = threading.Event()
    writers = [threading.Thread(target=write_load, args=(server.client(), prefix, stop, index), daemon=True)
               for index, prefix in enumerate(prefixes)]
    for writer in writers:
        writer.start()
    try:
        yield writers
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=10)


def own_keys(*clients: Any) -> list[bytes]:
    """dtsctl's bookkeeping keys (heartbeats, checkpoints) on these servers."""
    return sorted(key for client in clients for key in client.scan_iter(match="dtsctl:*"))


def restarted(workspace: Workspace, address: str, old_pid: int) -> int:
    """Waits for the supervisor to start a new agent after old_pid died."""
    return wait_for(lambda: (pid := workspace.agent_pid(address)) and pid != old_pid and pid, timeout=30,
                    what="the supervisor to restart the agent")


def only(client: Any, prefix: bytes) -> dict:
    """key_space() of the keys under a prefix."""
    return {k: v for k, v in key_space(client).items() if k.startswith(prefix)}


def _close(expected: dict, actual: dict) -> bool:
    """Same keys, types and values, expiry times within a second (as differences() judges them)."""
    return expected.keys() == actual.keys() and all(
        expected[k][:2] == actual[k][:2] and (expected[k][2] < 0) == (actual[k][2] < 0)
        and abs(expected[k][2] - actual[k][2]) <= 1000 for k in expected)


def bulk(client: Any, count: int, prefix: str, size: int = 0) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}{i}", os.urandom(size) if size else f"value {i}")
    pipe.execute()


# -- 1. every type under load, kill -9, verify, destroy ----------------------------------------------

def test_every_type_under_load_survives_kill_9_and_destroy_keeps_the_data(workspace: Workspace, redis_source,
                                                                         redis_destination, flush_redis) -> None:
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    # the backlog must hold the load's writes while a killed agent waits out its restart backoff:
    # the restarted agent continues the stream (a lost position would fail the task)
    source.config_set("repl-backlog-size", "64mb")
    seed(source)
    bulk(source, 2000, "bulk:", size=1500)  # 3 MB of incompressible values
    # 1 MB/s: the snapshot lasts long enough to be killed in, the stream of small commands stays far below it
    workspace.write("main.dts.yaml", declaration(redis_source, redis_destination,
                                                 extra="    throttle: {rps: 0, mbps: 1}"))
    with load(redis_source, ""):
        workspace.run("apply", "--auto-approve")
        snapshot = wait_for(lambda: (s := workspace.status("task.copy"))["phase"] == "full"
                            and s["rows_copied"] > 300 and s, timeout=30, what="the snapshot under way")
        first = snapshot["pid"]
        os.kill(first, signal.SIGKILL)  # kill -9 during the snapshot
        second = restarted(workspace, "task.copy", first)
        workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
        applied = workspace.status("task.copy")["events_applied"]
        wait_for(lambda: workspace.status("task.copy")["events_applied"] > applied + 200, timeout=30,
                 what="the stream under way")
        os.kill(second, signal.SIGKILL)  # kill -9 during the stream
        restarted(workspace, "task.copy", second)
        workspace.run("wait", "task.copy", "--timeout", "30")
        time.sleep(1)  # writes after the restart
    wait_equal(source, destination)
    assert int(destination.get("counter")) == int(source.get("counter")), "an INCR applied twice or lost"
    status = wait_for(lambda: (s := workspace.status("task.copy"))["lag_seconds"] is not None and s, timeout=15,
                      what="a lag measured with the heartbeat")
    assert status["state"] == "running" and status["last_error"] is None
    assert status["checkpoint"].startswith(source.info("replication")["master_replid"])
    verified = json.loads(workspace.run("verify", "task.copy", "--json").stdout)
    assert verified["equal"] is True and verified["tables"][0]["source_count"] > 2000, verified

    assert [k for k in own_keys(source) if k.startswith(b"dtsctl:heartbeat:")]
    assert [k for k in own_keys(destination) if k.startswith(b"dtsctl:checkpoint:")]
    kept = key_space(destination)
    workspace.run("destroy", "--auto-approve")
    assert workspace.run("state", "list").stdout == ""
    assert workspace.agent_pid("task.copy") is None
    assert own_keys(source, destination) == [], "destroy removes the heartbeat and checkpoint keys"
    assert key_space(destination) == kept, "destroy leaves the destination's data as it was"


# -- 2. objects: key prefixes and a database rename --------------------------------------------------

def test_key_prefix_filter_and_db_rename(workspace: Workspace, redis_source, redis_destination, flush_redis) -> None:
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    seed(source, prefix="user:", count=10)
    seed(source, prefix="order:", count=5)
    workspace.write("main.dts.yaml", declaration(redis_source, redis_destination,
                                                 '[{database: 0, rename: 1, key_prefixes: ["user:"]}]'))
    with load(redis_source, "user:", "order:"):
        workspace.run("apply", "--auto-approve")
        workspace.run("wait", "task.copy", "--timeout", "60")
        time.sleep(1)
    source.set("user:last", "x", ex=500)
    source.set("order:last", "skipped")
    renamed = redis_destination.client(db=1)

    wait_for(lambda: _close(only(source, b"user:"), key_space(renamed)), timeout=60,
             what="db 1 to hold exactly the user: keys, equal to the source's")
    assert renamed.ttl("user:last") > 490
    assert [k for k in key_space(destination)] == [], "nothing is written to db 0 but dtsctl's checkpoint"
    assert workspace.run("verify", "task.copy").returncode == 0
    workspace.run("destroy", "--auto-approve")
    assert own_keys(source, destination) == []
    assert renamed.exists("user:last")


# -- 3. full resync: a source restarted without persistence, an overflowed backlog ---------------------

def test_source_restarted_without_persistence_resyncs_fully(workspace: Workspace, redis_factory, redis_destination,
                                                            flush_redis) -> None:
    server = redis_factory()
    source, destination = server.client(), flush_redis(redis_destination)
    seed(source, count=10)
    workspace.write("main.dts.yaml", declaration(server, redis_destination, on_position_lost="reseed"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    wait_equal(source, destination)
    assert workspace.status("task.copy")["full_resyncs"] == 0
    server.restart()  # without persistence: back empty, with a new replication id
    source = server.client()
    assert source.dbsize() == 0
    source.set("after:restart", "yes", ex=300)
    source.rpush("after:list", 1, 2, 3)
    status = wait_for(lambda: (s := workspace.status("task.copy"))["full_resyncs"] >= 1
                      and s["phase"] == "incremental" and s, timeout=60, what="a full resync in status")
    assert "full resync" in status["full_resync_reason"]
    wait_equal(source, destination)  # the keys gone from the source are gone from the destination too
    assert status["state"] == "running"
    assert "full resyncs: 1" in workspace.run("status", "task.copy").stdout
    assert "full resync" in workspace.run("logs", "task.copy", "--lines", "500").stdout


def test_backlog_overflow_while_paused_resyncs_fully(workspace: Workspace, redis_factory, redis_destination,
                                                     flush_redis) -> None:
    server = redis_factory(config=["repl-backlog-size 16kb"])
    source, destination = server.client(), flush_redis(redis_destination)
    seed(source, count=10)
    workspace.write("main.dts.yaml", declaration(server, redis_destination, on_position_lost="reseed"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    workspace.write("main.dts.yaml", declaration(server, redis_destination, status="paused", on_position_lost="reseed"))
    workspace.run("apply", "--auto-approve")
    assert workspace.status("task.copy")["pid"] is None
    bulk(source, 5000, "while-paused:")  # far more than 16 kB of writes
    source.delete("str:1")
    workspace.write("main.dts.yaml", declaration(server, redis_destination, on_position_lost="reseed"))
    workspace.run("apply", "--auto-approve")
    status = wait_for(lambda: (s := workspace.status("task.copy"))["full_resyncs"] >= 1
                      and s["phase"] == "incremental" and s, timeout=60, what="a full resync in status")
    assert "backlog" in status["full_resync_reason"], status
    wait_equal(source, destination)


# -- 4. a Redis Cluster destination -------------------------------------------------------------------

def test_cluster_destination(workspace: Workspace, redis_source, redis_cluster, flush_redis) -> None:
    source, cluster = flush_redis(redis_source), flush_redis(redis_cluster)
    seed(source, count=20)
    workspace.write("main.dts.yaml", declaration(redis_source, redis_cluster))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    pipe = source.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"later:{i}", i, ex=1000 + i)
        pipe.hset(f"h:{i}", "f", i)
    pipe.incr("later:1")
    pipe.delete("later:2")
    pipe.rename("str:3", "{str:3}:moved")  # same slot: allowed
    pipe.execute()
    view = _ClusterView(cluster)
    wait_equal(source, view)
    assert {n.port for n in redis_cluster.nodes if n.client().dbsize() > 50} == set(redis_cluster.ports), \
        "keys are spread over every shard"
    assert workspace.run("verify", "task.copy").returncode == 0

    source.mset({"a": 1, "b": 2})  # different slots: the task stops with both keys named
    deadline = time.monotonic() + 30
    while True:  # `wait` answers 0 until the applier has reached the MSET
        waited = workspace.run("wait", "task.copy", "--timeout", "30", check=False)
        if waited.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert waited.returncode == 1 and "CROSSSLOT" in waited.stderr, waited.stderr
    status = workspace.status("task.copy")
    assert status["state"] == "failed"
    assert "a (slot" in status["last_error"] and "b (slot" in status["last_error"]

    workspace.run("destroy", "--auto-approve")
    assert own_keys(source, *[n.client() for n in redis_cluster.nodes]) == []
    assert view.exists("later:0") and view.get("later:1") == b"2"


# -- 5. topologies: one-to-many and cascade, applied as a whole -----------------------------------------

def test_one_to_many_and_cascade_topologies(workspace: Workspace, redis_source, redis_destination, redis_factory,
                                            flush_redis) -> None:
    third = redis_factory()
    a, b, c = flush_redis(redis_source), flush_redis(redis_destination), third.client()
    seed(a, prefix="fan:", count=5)
    seed(a, prefix="chain:", count=5)
    workspace.write("main.dts.yaml", f"""
        endpoints:
          a: {endpoint(redis_source)}
          b: {endpoint(redis_destination)}
          c: {endpoint(third)}
        topologies:
          fan:
            type: one-to-many
            endpoints: [a, b, c]
            objects: [{{database: 0, key_prefixes: ["fan:"]}}]
            retry: {RETRY}
          chain:
            type: cascade
            endpoints: [a, b, c]
            objects: [{{database: 0, key_prefixes: ["chain:"]}}]
            retry: {RETRY}
        """)
    addresses = ["topology.chain.task.a_to_b", "topology.chain.task.b_to_c", "topology.fan.task.b",
                 "topology.fan.task.c"]
    plan = workspace.run("plan")
    for address in addresses:
        assert f"+ {address}" in plan.stdout, plan.stdout
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in plan.stdout
    planned = json.loads(workspace.run("plan", "--json").stdout)
    assert sorted(change["address"] for change in planned["resource_changes"]) == addresses

    full_syncs = a.info("stats")["sync_full"]
    workspace.run("apply", "--auto-approve")
    assert workspace.run("state", "list").stdout.split() == addresses
    workspace.run("wait", "topology", "--timeout", "90")
    # the fan-out reads a once (one replica, one snapshot) for both destinations; the chain reads a once
    assert a.info("stats")["sync_full"] - full_syncs == 2
    assert a.info("replication")["connected_slaves"] == 2
    a.set("fan:new", "to both", ex=600)
    a.hset("chain:new", mapping={"hop": "a"})
    a.expire("chain:new", 700)
    a.delete("chain:str:0")

    def same(prefix: bytes, *replicas: Any) -> bool:
        expected = only(a, prefix)
        return all(_close(expected, only(replica, prefix)) for replica in replicas)

    wait_for(lambda: same(b"fan:", b, c), timeout=60, what="fan: keys on b and c")
    wait_for(lambda: same(b"chain:", b, c), timeout=60, what="a write on a to reach c through b")
    assert c.hget("chain:new", "hop") == b"a" and 690 < c.ttl("chain:new") <= 700
    assert all(task["state"] == "running" for task in json.loads(workspace.run("status", "--json").stdout)["tasks"])

    workspace.run("destroy", "--auto-approve")
    assert workspace.run("state", "list").stdout == ""
    assert all(workspace.agent_pid(address) is None for address in addresses)
    assert own_keys(a, b, c) == [], "destroy removes every task's heartbeat and checkpoint keys"
    assert not (workspace.runtime / "shared" / "topology.fan").exists(), "the shared change log goes with the last task"
    assert c.exists("fan:new", "chain:new") == 2


# -- 6. precheck failures --------------------------------------------------------------------------------

def test_precheck_failures_each_say_what_to_change(workspace: Workspace, redis_source, redis_destination,
                                                   redis_factory, flush_redis) -> None:
    flush_redis(redis_source).set("taken", "source value")
    destination = flush_redis(redis_destination)
    destination.set("taken", "destination value")
    secured = redis_factory(password="s3cret-pw")
    cases = {
        "wrong password": (declaration(secured, redis_destination, src_password="wrong-pw"),
                           ["refused the password"]),
        "conflicting keys": (declaration(redis_source, redis_destination), ["taken", "conflict_policy"]),
    }
    for name, (text, mentioned) in cases.items():
        workspace.write("main.dts.yaml", text)
        check = workspace.run("precheck", check=False)
        assert check.returncode == 1, (name, check.stdout, check.stderr)
        failed = [line for line in check.stdout.splitlines() if "FAIL" in line]
        assert len(failed) == 1 and all(m in failed[0] for m in mentioned), (name, check.stdout)
        applied = workspace.run("apply", "--auto-approve", check=False)
        assert applied.returncode == 1, name
        errors = [line for line in applied.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and all(m in errors[0] for m in mentioned), (name, applied.stderr)
        assert "Traceback" not in applied.stderr
        printed = check.stdout + check.stderr + applied.stdout + applied.stderr
        assert "s3cret-pw" not in printed and "wrong-pw" not in printed, "passwords are never printed"
        assert workspace.run("state", "list").stdout == "", f"{name}: nothing may be recorded"
        assert workspace.agent_pid("task.copy") is None
    assert destination.get("taken") == b"destination value", "a failed precheck writes nothing"
    assert own_keys(redis_source.client(), destination) == []

    # the same conflict passes once the declaration says what to do with it
    workspace.write("main.dts.yaml", declaration(redis_source, redis_destination,
                                                 extra="    conflict_policy: overwrite"))
    assert workspace.run("precheck").returncode == 0


def test_a_destination_added_to_a_one_to_many_topology_gets_the_shared_snapshot(
        workspace: Workspace, redis_source, redis_destination, redis_factory, flush_redis) -> None:
    third = redis_factory()
    a, b, c = flush_redis(redis_source), flush_redis(redis_destination), third.client()
    seed(a, prefix="fan:", count=5)

    def fan(*destinations: str) -> str:
        return f"""
        endpoints:
          a: {endpoint(redis_source)}
          b: {endpoint(redis_destination)}
          c: {endpoint(third)}
        topologies:
          fan:
            type: one-to-many
            endpoints: [a, {', '.join(destinations)}]
            objects: [{{database: 0}}]
            retry: {RETRY}
        """

    full_syncs = a.info("stats")["sync_full"]
    workspace.write("main.dts.yaml", fan("b"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "topology.fan.task.b", "--timeout", "60")
    a.set("fan:after", "streamed")
    workspace.write("main.dts.yaml", fan("b", "c"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "topology.fan.task.c", "--timeout", "60")
    wait_equal(a, c)
    wait_equal(a, b)
    assert a.info("stats")["sync_full"] - full_syncs == 1, "c replayed the snapshot the shared log still held"


# -- 7. keys that expire on the destination while the agent is down (issue 11, item 8) ----------------

def test_keys_that_expired_on_the_destination_while_the_agent_was_down_are_sent_again(
        workspace: Workspace, redis_source, redis_destination, flush_redis) -> None:
    source, destination = flush_redis(redis_source), flush_redis(redis_destination)
    workspace.write("main.dts.yaml", declaration(redis_source, redis_destination))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    for i in range(5):
        source.set(f"s:{i}", f"value {i}", px=1500)
    wait_for(lambda: destination.exists(*[f"s:{i}" for i in range(5)]) == 5, timeout=30,
             what="the short-lived keys on the destination")

    agent = workspace.agent_pid("task.copy")
    os.kill(agent, signal.SIGSTOP)  # the agent is down past the TTLs
    try:
        source.expire("s:0", 600)
        source.expire("s:1", 600)
        source.expire("s:2", 600)
        source.append("s:2", " and more")
        source.rename("s:3", "s:3 renamed")
        source.expire("s:3 renamed", 600)  # s:4 is left to expire on both sides
        wait_for(lambda: destination.exists(*[f"s:{i}" for i in range(5)]) == 0, timeout=30,
                 what="the keys to expire on the destination")
    finally:
        os.kill(agent, signal.SIGKILL)
        os.kill(agent, signal.SIGCONT)
    restarted(workspace, "task.copy", agent)

    wait_equal(source, destination)
    assert destination.get("s:2") == b"value 2 and more"
    expiry = [client.execute_command("PEXPIRETIME", "s:3 renamed") for client in (source, destination)]
    assert expiry[0] > 0 and expiry[0] == expiry[1], "the source's absolute expiry, not a fresh TTL"
    status = wait_for(lambda: (s := workspace.status("task.copy")).get("expired_on_destination") and s,
                      timeout=15, what="the count in status")
    assert status["state"] == "running" and status["last_error"] is None
    assert status["expired_on_destination"] >= 4, status
    details = workspace.run("status", "task.copy").stdout
    assert "keys expired on the destination before the source's writes reached them" in details
    assert "run verify" in details
    assert json.loads(workspace.run("verify", "task.copy", "--json").stdout)["equal"] is True
