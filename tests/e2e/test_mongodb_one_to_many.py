"""One-to-many from a MongoDB source through the CLI, against private nx-27017 servers: the source is
read once for both destinations (one change log, one reader), each destination keeps its own
checkpoint and lag, and a kill -9 of the reading agent while writes go on loses nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e.cli import Workspace, kill_agent, reading_agent, wait_for
from tests.e2e.test_mongodb_cli import seed, wait_same, writes
from tests.e2e.test_one_to_many_mysql import fan_declaration
from tests.servers.mongodb import NxMongoServer

pytestmark = pytest.mark.e2e

ADDRESSES = ("topology.fan.task.d1", "topology.fan.task.d2")


def endpoint(server: NxMongoServer) -> str:
    return f"{{engine: mongodb, host: 127.0.0.1, port: {server.port}}}"


def test_two_destinations_share_one_reader_and_end_equal_after_kill_9(workspace: Workspace, mongodb_trio) -> None:
    src, first, second = mongodb_trio
    source = src.client()
    seed(source, 300)
    workspace.write("main.dts.yaml", fan_declaration(endpoint, src, {"d1": first, "d2": second},
                                                     "[{database: shop, collections: [orders, users]}]"))
    with writes(source, "shop", "orders") as written:
        workspace.run("apply", "--auto-approve")
        for address in ADDRESSES:
            workspace.run("wait", address, "--phase", "incremental", "--timeout", "90")
        shared = workspace.runtime / "shared" / "topology.fan"
        assert (shared / "changelog.db").exists() and not any(
            (workspace.runtime / "tasks" / address / "changelog.db").exists() for address in ADDRESSES)
        reader = reading_agent(workspace, "topology.fan")
        killed = next(address for address in ADDRESSES if workspace.agent_pid(address) == reader)
        kill_agent(workspace, killed)  # kill -9 the agent reading for both, writes going on
        wait_for(lambda: reading_agent(workspace, "topology.fan") not in (None, reader), timeout=60,
                 what="an agent reading the source again")
        source.shop.users.insert_one({"_id": "after-the-kill"})
        for server in (first, second):
            wait_for(lambda: server.client().shop.users.find_one({"_id": "after-the-kill"}), timeout=60,
                     what="both destinations streaming again")
    assert written["n"] > 50
    for server in (first, second):
        wait_same(source, server.client(), ("shop", "orders", "shop", "orders"), ("shop", "users", "shop", "users"))
    tasks = {task["address"]: task for task in json.loads(workspace.run("status", "--json").stdout)["tasks"]}
    for address in ADDRESSES:  # each destination's own place in the stream
        task = tasks[address]
        assert task["state"] == "running" and task["last_error"] is None, task
        assert task["checkpoint"] and task["checkpoint"].startswith("change stream"), task
        assert task["lag_seconds"] is not None and task["lag_seconds"] <= 5, task
        assert task["conflicts"] == {"insert": 0, "update": 0, "delete": 0}, task
