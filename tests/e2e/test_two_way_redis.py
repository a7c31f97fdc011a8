"""Two-way Redis pairs through the dtsctl CLI, against private redis-server processes (issue 5).

Each direction applies its batches in MULTI/EXEC blocks that set its origin marker;
the opposite reader drops the blocks carrying its peer's marker, so nothing echoes.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.e2e.cli import Workspace, changelog_last_seq, kill_in_turn, wait_for
from tests.integration.redis.conftest import key_space, wait_equal
from tests.integration.redis.data import seed, write_load
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.e2e

FORWARD, REVERSE = "topology.dr.task.forward", "topology.dr.task.reverse"


def endpoint(server: RedisServer) -> str:
    return f"{{engine: redis, host: 127.0.0.1, port: {server.port}}}"


def pair_declaration(a: RedisServer, b: RedisServer, *, policy: str | None = None, status: str = "running") -> str:
    return f"""
        endpoints:
          primary: {endpoint(a)}
          standby: {endpoint(b)}
        topologies:
          dr:
            type: two-way
            endpoints: [primary, standby]
            initial_sync_from: primary
            objects: [{{database: 0}}]
            {f"conflict_policy: {policy}" if policy else ""}
            status: {status}
            retry: {{connection_minutes: 2, other_minutes: 2}}
        """


def checkpoints(*clients: Any) -> list[bytes]:
    return [client.get(key) for client in clients for key in sorted(client.scan_iter(match="dtsctl:checkpoint:*"))]


def test_load_on_both_sides_of_every_type_converges_survives_kill_9_and_does_not_echo(
        workspace: Workspace, redis_source, redis_destination, flush_redis) -> None:
    a, b = flush_redis(redis_source), flush_redis(redis_destination)
    seed(a, "a:")
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination))
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    seed(b, "b:")  # every type written on the standby too, after the pair started

    stop = threading.Event()
    writers = [threading.Thread(target=write_load, args=(client, prefix, stop, index), daemon=True)
               for index, (client, prefix) in enumerate(((redis_source.client(), "a:"), (redis_destination.client(), "b:")))]
    for writer in writers:
        writer.start()
    try:
        kill_in_turn(workspace, FORWARD, REVERSE)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=10)
    wait_equal(a, b, timeout=120)
    assert int(a.get("a:counter")) == int(b.get("a:counter")) > 100
    assert int(a.get("b:counter")) == int(b.get("b:counter")) > 100, "an INCR echoed or lost"

    time.sleep(2)  # the last batches land
    before = (changelog_last_seq(workspace, FORWARD), changelog_last_seq(workspace, REVERSE), checkpoints(a, b))
    time.sleep(10)
    after = (changelog_last_seq(workspace, FORWARD), changelog_last_seq(workspace, REVERSE), checkpoints(a, b))
    assert after == before, "an idle pair must not echo commands back and forth"
    for address in (FORWARD, REVERSE):
        status = workspace.status(address)
        assert status["state"] == "running"
        assert status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}, "disjoint keys never conflict"

    workspace.run("destroy", "--auto-approve")
    assert not [key for client in (a, b) for key in client.scan_iter(match="dtsctl:*")], "bookkeeping left behind"


@pytest.mark.parametrize("policy", ["ignore", "overwrite", "fail"])
def test_keys_already_on_the_standby_resolve_as_each_policy_promises(
        workspace: Workspace, redis_source, redis_destination, flush_redis, policy: str) -> None:
    a, b = flush_redis(redis_source), flush_redis(redis_destination)
    for n in range(1, 6):
        a.set(f"k:{n}", "from primary")
        b.set(f"k:{n}", "from standby")
    a.set("k:6", "from primary")
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination, policy=policy))
    if policy == "fail":
        result = workspace.run("apply", "--auto-approve", check=False)
        assert result.returncode == 1 and "already holds keys" in result.stderr
        assert b.get("k:1") == b"from standby" and b.get("k:6") is None
        return
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    expected = b"from standby" if policy == "ignore" else b"from primary"
    assert [b.get(f"k:{n}") for n in range(1, 6)] == [expected] * 5
    assert b.get("k:6") == b"from primary"
    assert [a.get(f"k:{n}") for n in range(1, 7)] == [b"from primary"] * 6, "the copy never writes back"
    conflicts = workspace.status(FORWARD)["conflicts"]
    assert conflicts == {"insert": 5 if policy == "ignore" else 0, "update": 0, "delete": 0}


def test_primary_back_empty_stops_both_directions_and_the_pair_reseeds_from_the_standby(
        workspace: Workspace, redis_factory, redis_destination, flush_redis) -> None:
    primary = redis_factory()
    a, b = primary.client(), flush_redis(redis_destination)
    seed(a, "a:")
    workspace.write("main.dts.yaml", pair_declaration(primary, redis_destination))
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    wait_equal(a, b)
    keys_before_the_outage = set(key_space(a))

    primary.kill()  # failover: the applications move to the standby
    b.set("outage:1", "written on the standby")
    b.rpush("outage:list", 1, 2, 3)
    time.sleep(1)
    primary.start()  # back without its data and with a new replication id
    failed = {address: wait_for(lambda a=address: (s := workspace.status(a))["state"] == "failed" and s,
                                timeout=90, what=f"{address} to refuse to continue")
              for address in (FORWARD, REVERSE)}
    assert "would first clear the selected keys" in failed[FORWARD]["last_error"]
    assert "no longer holds this task's checkpoint" in failed[REVERSE]["last_error"]
    assert b.get("outage:1") == b"written on the standby" and b.dbsize() > 100, "the standby keeps everything"

    # The documented re-seed: destroy the pair, then copy from the standby.
    workspace.run("destroy", "--auto-approve")
    workspace.write("main.dts.yaml",
                    pair_declaration(primary, redis_destination).replace("initial_sync_from: primary",
                                                                         "initial_sync_from: standby"))
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    a = primary.client()
    wait_equal(a, b)
    assert a.lrange("outage:list", 0, -1) == [b"1", b"2", b"3"]
    # the pair runs again with the roles swapped: the applications move back to the primary
    a.set("after:reseed:primary", "1")
    b.set("after:reseed:standby", "1")
    wait_for(lambda: a.exists("after:reseed:standby") and b.exists("after:reseed:primary"), timeout=60,
             what="writes after the re-seed to flow both ways")
    wait_equal(a, b)
    new_keys = {b"outage:1", b"outage:list", b"after:reseed:primary", b"after:reseed:standby"}
    assert set(key_space(a)) == set(key_space(b)) == keys_before_the_outage | new_keys, "no key lost"


def test_reverse_stops_when_the_standby_backlog_no_longer_holds_its_writes(
        workspace: Workspace, redis_source, redis_factory, flush_redis) -> None:
    standby = redis_factory(config=["repl-backlog-size 16kb"])
    a, b = flush_redis(redis_source), standby.client()
    workspace.write("main.dts.yaml", pair_declaration(redis_source, standby))
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    workspace.write("main.dts.yaml", pair_declaration(redis_source, standby, status="{reverse: paused}"))
    workspace.run("apply", "--auto-approve")
    for n in range(2000):  # far more than the 16 kB backlog
        b.set(f"b:{n}", "x" * 20)

    workspace.write("main.dts.yaml", pair_declaration(redis_source, standby))
    workspace.run("apply", "--auto-approve")
    failed = wait_for(lambda: (s := workspace.status(REVERSE))["state"] == "failed" and s, timeout=60,
                      what="the reverse to refuse to skip the standby's writes")
    assert "this task copies nothing" in failed["last_error"]
    assert a.get("b:0") is None and b.get("b:1999") == b"x" * 20
    assert workspace.status(FORWARD)["state"] == "running"


def write_both_sides(a: Any, b: Any) -> None:
    """The same keys of every type written on both sides, plus one key per side."""
    for side, client in (("a", a), ("b", b)):
        client.set("k:str", side)
        client.hset("k:hash", "f", side)
        client.rpush("k:list", side)
        client.sadd("k:set", side)
        client.zadd("k:zset", {side: 1})
        client.pfadd("k:hll", side)
        client.xadd("k:stream", {"side": side}, id="1-1" if side == "a" else "2-1")
        client.set(f"only:{side}", side)
    a.delete("k:gone")
    b.set("k:gone", "b")


@pytest.mark.parametrize("policy", ["ignore", "overwrite", "fail"])
def test_same_keys_written_on_both_sides_resolve_as_each_policy_promises(
        workspace: Workspace, redis_source, redis_destination, flush_redis, policy: str) -> None:
    a, b = flush_redis(redis_source), flush_redis(redis_destination)
    a.rpush("k:list", "seed")  # the copy brings both to B
    a.set("k:gone", "seed")
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination, policy=policy))
    workspace.run("apply", "--auto-approve")
    for address in (FORWARD, REVERSE):
        workspace.run("wait", address, "--timeout", "120")
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination, policy=policy,
                                                      status="paused"))
    workspace.run("apply", "--auto-approve")
    write_both_sides(a, b)  # neither side has seen the other's writes

    # B's writes reach A first (A's own writes to those keys are replaced there: the reverse
    # could not know of them yet); then A's writes reach B, and the forward finds each conflict.
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination, policy=policy,
                                                      status="{forward: paused}"))
    workspace.run("apply", "--auto-approve")
    wait_for(lambda: a.get("only:b") == b"b", what="B's writes on A")
    assert a.get("k:str") == b"b"
    workspace.write("main.dts.yaml", pair_declaration(redis_source, redis_destination, policy=policy))
    workspace.run("apply", "--auto-approve")
    if policy == "fail":
        failed = wait_for(lambda: (s := workspace.status(FORWARD))["state"] == "failed" and s, timeout=60,
                          what="the forward to stop on the conflict")
        assert "conflict: SET of key 'k:str' in db 0" in failed["last_error"]
        assert "conflict_policy is fail" in failed["last_error"]
        assert b.get("k:str") == b"b" and b.get("only:a") is None, "nothing of the conflicting batch is applied"
        return
    wait_for(lambda: b.get("only:a") == b"a", what="A's key of its own on B")
    wait_for(lambda: workspace.status(FORWARD)["conflicts"]["delete"] == 1, what="the conflicts counted")
    time.sleep(1)
    assert workspace.status(FORWARD)["conflicts"] == {"insert": 0, "update": 7, "delete": 1}
    assert workspace.status(REVERSE)["conflicts"] == {"insert": 0, "update": 0, "delete": 0}
    if policy == "ignore":  # B keeps its own values: here that is what A holds too
        assert (b.get("k:str"), b.hget("k:hash", "f"), b.get("k:gone")) == (b"b", b"b", b"b")
        assert b.lrange("k:list", 0, -1) == [b"seed", b"b"] and b.smembers("k:set") == {b"b"}
        assert b.zrange("k:zset", 0, -1) == [b"b"] and b.pfcount("k:hll") == 1
        assert [entry_id for entry_id, _ in b.xrange("k:stream")] == [b"2-1"]
        assert (a.get("k:str"), a.get("k:gone")) == (b"b", b"b")
    else:  # A's changes win on B, B's won on A: the sides are swapped, and the counts say so
        assert (b.get("k:str"), b.hget("k:hash", "f"), b.get("k:gone")) == (b"a", b"a", None)
        assert b.lrange("k:list", 0, -1) == [b"seed", b"b", b"a"] and b.smembers("k:set") == {b"a", b"b"}
        assert b.pfcount("k:hll") == 2
        # A's entry 1-1 cannot go after B's 2-1: Redis refuses it, and the refusal is logged
        assert [entry_id for entry_id, _ in b.xrange("k:stream")] == [b"2-1"]
        assert (a.get("k:str"), a.get("k:gone")) == (b"b", b"b")
    log = workspace.run("logs", FORWARD, "--lines", "200").stdout
    assert "conflict: SET of key 'k:str' in db 0 was also written on the destination" in log
