"""Sentinel-managed Redis endpoints through the dtsctl CLI (issue 14, dynamic endpoint detection).

Both ends are named by a Sentinel trio and a master name. A `SENTINEL FAILOVER` promotes
the replica: the source continues its stream there with PSYNC (Redis 7 keeps the old
replication id as replid2, so the promoted replica answers +CONTINUE), the sink applies
the next batches on the destination's new master; nothing is lost and nothing copied again.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.cli import Workspace, wait_for
from tests.e2e.test_redis_cli import RETRY, bulk
from tests.integration.redis.conftest import wait_equal
from tests.integration.redis.data import seed
from tests.servers.sentinel import SentinelGroup

pytestmark = pytest.mark.e2e


def sentinel_endpoint(group: SentinelGroup, master: str) -> str:
    password = f", password: {group.password}" if group.password else ""
    return f"{{engine: redis, sentinel: {{hosts: {json.dumps(group.hosts)}, master: {master}{password}}}}}"


def declaration(group: SentinelGroup, on_position_lost: str = "fail") -> str:
    return f"""
        endpoints:
          src: {sentinel_endpoint(group, "src")}
          dst: {sentinel_endpoint(group, "dst")}
        tasks:
          copy:
            type: synchronization
            source: src
            destination: dst
            objects: [{{database: 0}}]
            on_position_lost: {on_position_lost}
            retry: {RETRY}
        """


def started(workspace: Workspace, group: SentinelGroup, on_position_lost: str = "fail") -> None:
    """Keys of every type on the source, the task applied and streaming, more writes applied."""
    seed(group.master("src").client(), "seed:", count=10)
    workspace.write("main.dts.yaml", declaration(group, on_position_lost))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "120")
    bulk(group.master("src").client(), 500, "before:")
    wait_equal(group.master("src").client(), group.master("dst").client())


def test_a_promoted_source_replica_continues_the_stream_and_a_new_destination_master_gets_the_rest(
        workspace: Workspace, redis_sentinel_factory) -> None:
    group = redis_sentinel_factory(names=("src", "dst"), password="sentinel-pw")
    started(workspace, group)

    source = group.failover("src", kill=True).client()  # the source's master dies; its replica is promoted
    bulk(source, 500, "after source failover:")
    source.incrby("counter", 7)
    wait_equal(source, group.master("dst").client(), timeout=90)
    replid = source.info("replication")["master_replid"]
    # the checkpoint in status.json follows the data by up to a status write and a position save
    status = wait_for(lambda: (s := workspace.status("task.copy"))["checkpoint"].startswith(replid) and s,
                      timeout=30, what="the checkpoint on the promoted replica's replication id")
    assert status["state"] == "running", status
    assert status["full_resyncs"] == 0, status["full_resync_reason"]  # PSYNC +CONTINUE on the promoted replica

    destination = group.failover("dst").client()  # the destination's replica becomes its master
    bulk(source, 500, "after destination failover:")
    source.delete("before:1")
    wait_equal(source, destination, timeout=90)
    assert destination.get("counter") == b"7" and destination.get("before:1") is None
    status = workspace.status("task.copy")
    assert status["state"] == "running" and status["full_resyncs"] == 0, status

    assert "sentinel-pw" not in workspace.run("logs", "task.copy", "--lines", "1000").stdout
    workspace.run("destroy", "--auto-approve")
    assert not list(destination.scan_iter(match="dtsctl:*")), "the checkpoint on the new master is removed"


def test_a_source_failover_the_stream_cannot_continue_from_is_a_full_resync_shown_in_status(
        workspace: Workspace, redis_sentinel_factory) -> None:
    group = redis_sentinel_factory(names=("src", "dst"))
    started(workspace, group, on_position_lost="reseed")

    # SENTINEL FAILOVER leaves the old master taking writes (heartbeats, the Sentinels' hellos)
    # for seconds after the promotion: the stream read from it goes past what the new master has.
    source = group.failover("src").client()
    source.set("after source failover", "1")
    wait_equal(source, group.master("dst").client(), timeout=90)
    status = wait_for(lambda: (s := workspace.status("task.copy"))["phase"] == "incremental" and s, timeout=60,
                      what="the task streaming again")
    assert status["state"] == "running" and status["full_resyncs"] == 1, status
    assert "could not continue" in status["full_resync_reason"], status
    assert "full resyncs: 1" in workspace.run("status", "task.copy").stdout


def test_a_wrong_master_name_or_password_or_unreachable_sentinels_are_reported_in_the_users_words(
        workspace: Workspace, redis_sentinel_factory, redis_destination) -> None:
    group = redis_sentinel_factory(names=("src",), password="sentinel-pw")
    hosts, listed = json.dumps(group.hosts), ", ".join(group.hosts)
    destination = f"{{engine: redis, host: 127.0.0.1, port: {redis_destination.port}}}"
    for sentinel, expected in [
        (f"{{hosts: {hosts}, master: srcc, password: sentinel-pw}}",
         f"the Sentinels {listed} of the source monitor no master named srcc (they monitor: src); "
         "fix `sentinel.master`"),
        (f"{{hosts: {hosts}, master: src, password: wrong}}",
         f"the Sentinels {listed} of the source refused the password; fix `sentinel.password` of the endpoint"),
        (f"{{hosts: {hosts}, master: src}}",
         f"the Sentinels {listed} of the source require a password; set `sentinel.password` on the endpoint"),
        ('{hosts: ["127.0.0.1:1"], master: src}',
         "cannot reach any Sentinel of the source (127.0.0.1:1); check `sentinel.hosts` and that the Sentinels run"),
    ]:
        workspace.write("main.dts.yaml", f"""
            endpoints:
              src: {{engine: redis, sentinel: {sentinel}}}
              dst: {destination}
            tasks:
              copy: {{type: synchronization, source: src, destination: dst, objects: [{{database: 0}}]}}
            """)
        result = workspace.run("precheck", check=False)
        assert result.returncode == 1 and f"FAIL connectivity: {expected}" in result.stdout, result.stdout
        assert "Traceback" not in result.stderr and "wrong" not in result.stdout + result.stderr


def test_the_sentinel_password_is_never_shown_or_stored(workspace: Workspace, redis_destination) -> None:
    workspace.write("main.dts.yaml", f"""
        endpoints:
          src: {{engine: redis, sentinel: {{hosts: ["127.0.0.1:1"], master: src, password: hunter2-sentinel}}}}
          dst: {{engine: redis, host: 127.0.0.1, port: {redis_destination.port}}}
        tasks:
          copy: {{type: synchronization, source: src, destination: dst, objects: [{{database: 0}}]}}
        """)
    results = [workspace.run(*command, check=False) for command in (["plan"], ["apply", "--auto-approve"], ["status"])]
    assert "(sensitive value)" in results[0].stdout
    assert not [r for r in results if "hunter2" in r.stdout + r.stderr]
    stored = [path for path in workspace.root.rglob("*") if path.is_file() and path.name != "main.dts.yaml"
              and b"hunter2" in path.read_bytes()]
    assert stored == [], stored
