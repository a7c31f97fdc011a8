"""What `status` and `wait` say about every destination of a one-to-many topology (issue 11,
item 9), for both engines that share a change log: each destination reports its own lag and
checkpoint, also the ones whose agent does not read the source, and also after the reading
agent was killed -9 and another agent took over reading."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e import test_one_to_many_mysql as mysql_fan
from tests.e2e.cli import Workspace, kill_agent, reading_agent, wait_for
from tests.e2e.test_mysql_cli import same, seed_shop
from tests.e2e.test_redis_cli import endpoint
from tests.integration.redis.conftest import wait_equal

pytestmark = pytest.mark.e2e

DESTINATIONS = ("d0", "d1", "d2")
ADDRESSES = [f"topology.fan.task.{name}" for name in DESTINATIONS]


def each_destination_reports(workspace: Workspace, checkpoint_ok: Callable[[str], bool]) -> None:
    """`wait --max-lag 1` returns for every destination, and `status --json` shows each one's lag
    and a checkpoint at the source."""
    for address in ADDRESSES:
        workspace.run("wait", address, "--max-lag", "1", "--timeout", "60")
    tasks = {task["address"]: task for task in json.loads(workspace.run("status", "--json").stdout)["tasks"]}
    for address in ADDRESSES:
        task = tasks[address]
        assert task["state"] == "running" and task["phase"] == "incremental", task
        assert task["lag_seconds"] is not None and task["lag_seconds"] <= 1, task
        assert task["checkpoint"] is not None and checkpoint_ok(task["checkpoint"]), task


def a_new_reader_after_killing(workspace: Workspace) -> None:
    """kill -9 the agent that reads the source; wait until another destination's agent reads it."""
    reader = reading_agent(workspace, "topology.fan")
    killed = next(address for address in ADDRESSES if workspace.agent_pid(address) == reader)
    kill_agent(workspace, killed)
    wait_for(lambda: reading_agent(workspace, "topology.fan") not in (None, reader), timeout=60,
             what="another agent reading the source")


def replica_connections(source: Any) -> int:
    """The source's replica connections (`connected_slaves` of INFO replication)."""
    return int(source.info("replication")["connected_slaves"])


def read_once(workspace: Workspace, source: Any) -> None:
    """An agent reads the source, through one replica connection, and keeps it so for 2 s."""
    wait_for(lambda: reading_agent(workspace, "topology.fan") and replica_connections(source) == 1, timeout=60,
             what="one agent reading the source through one replica connection")
    for _ in range(20):
        assert replica_connections(source) == 1, "the source is read once for every destination"
        time.sleep(0.1)


def test_every_redis_destination_reports_its_own_lag_and_checkpoint_and_the_source_is_read_once_through_kill_9(
        workspace: Workspace, redis_source, redis_destination, redis_factory, flush_redis) -> None:
    servers = {"d0": redis_destination, "d1": redis_factory(), "d2": redis_factory()}
    src = flush_redis(redis_source)
    flush_redis(redis_destination)
    src.set("fan:before", "copied")
    workspace.write("main.dts.yaml", mysql_fan.fan_declaration(endpoint, redis_source, servers, "[{database: 0}]"))
    workspace.run("apply", "--auto-approve")
    replid = src.info("replication")["master_replid"]

    src.set("fan:after", "streamed")
    each_destination_reports(workspace, lambda checkpoint: checkpoint.startswith(replid))
    read_once(workspace, src)

    a_new_reader_after_killing(workspace)
    src.set("fan:after the reader died", "streamed")
    read_once(workspace, src)
    each_destination_reports(workspace, lambda checkpoint: checkpoint.startswith(replid))
    for address in ADDRESSES:  # every applier (an agent that does not read), and the reader last
        if workspace.agent_pid(address) != reading_agent(workspace, "topology.fan"):
            kill_agent(workspace, address)
            src.incr("fan:kills")
            read_once(workspace, src)
    for server in servers.values():
        wait_equal(src, server.client())
    assert all(server.client().get("fan:kills") == b"2" for server in servers.values())
    each_destination_reports(workspace, lambda checkpoint: checkpoint.startswith(replid))


def test_every_mysql_destination_reports_its_own_lag_and_checkpoint(
        workspace: Workspace, mariadb_pair, mariadb_factory, shared_database) -> None:
    src, first = mariadb_pair
    servers = {"d0": first, "d1": mariadb_factory(), "d2": mariadb_factory()}
    database = shared_database(src, *servers.values())
    seed_shop(src, database, orders=100)
    workspace.write("main.dts.yaml", mysql_fan.declaration(src, servers, database))
    workspace.run("apply", "--auto-approve")

    def binlog_file(checkpoint: str) -> bool:
        return checkpoint.startswith(src.query("SHOW MASTER STATUS")[0][0] + ":")

    src.execute(f"INSERT INTO `{database}`.customers VALUES (1001, 'after the copy')")
    each_destination_reports(workspace, binlog_file)

    a_new_reader_after_killing(workspace)
    src.execute(f"INSERT INTO `{database}`.customers VALUES (1002, 'after the reader died')")
    each_destination_reports(workspace, binlog_file)
    for server in servers.values():
        wait_for(lambda: same(src, database, server, database, ["customers", "orders"]), timeout=60,
                 what="every destination equal to the source")
