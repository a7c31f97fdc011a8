"""MongoDB migration and synchronization through the dtsctl CLI, against private nx-27017 servers.

Every test here is one nx-27017 supports (docs/engine.md, "MongoDB: what was verified
against what"): string `_id`s, collection-level change streams, resume by token. The
behaviours it lacks are tested against a real replica set in tests/integration/mongodb.
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

import pymongo
import pytest

from tests.e2e.cli import Workspace, wait_for
from tests.servers.mongodb import NxMongoServer

pytestmark = pytest.mark.e2e

RETRY = "{connection_minutes: 2, other_minutes: 2}"


def declaration(source: NxMongoServer, destination: NxMongoServer, *, type_: str = "synchronization",
                objects: str = "[{database: shop, collections: [orders, users]}]", phases: str = "[schema, full, incremental]",
                status: str = "running", extra: str = "") -> str:
    return f"""
        endpoints:
          src: {{engine: mongodb, host: 127.0.0.1, port: {source.port}}}
          dst: {{engine: mongodb, uri: "mongodb://127.0.0.1:{destination.port}/?directConnection=true"}}
        tasks:
          copy:
            type: {type_}
            source: src
            destination: dst
            objects: {objects}
            phases: {phases}
            status: {status}
            retry: {RETRY}
        {extra}
        """


def documents(client: pymongo.MongoClient, database: str, collection: str) -> list[dict[str, Any]]:
    return list(client[database][collection].find().sort("_id", 1))


def wait_same(source: pymongo.MongoClient, destination: pymongo.MongoClient, *namespaces: tuple[str, str, str, str],
              timeout: float = 60) -> None:
    for src_db, src_coll, dst_db, dst_coll in namespaces:
        wait_for(lambda: documents(source, src_db, src_coll) == documents(destination, dst_db, dst_coll),
                 timeout=timeout, what=f"{dst_db}.{dst_coll} equal to {src_db}.{src_coll}")


@contextmanager
def writes(client: pymongo.MongoClient, database: str, collection: str) -> Iterator[dict[str, int]]:
    """A writer inserting, updating and deleting documents with string _ids until the block ends."""
    stop, done = threading.Event(), {"n": 0}

    def run() -> None:
        target = client[database][collection]
        while not stop.is_set():
            n = done["n"]
            target.insert_one({"_id": f"w{n:06d}", "n": n, "tags": ["a", {"b": n}]})
            if n % 3 == 0:
                target.update_one({"_id": f"w{n // 2:06d}"}, {"$set": {"updated": True}, "$inc": {"n": 1000}})
            if n % 5 == 0:
                target.delete_one({"_id": f"w{n // 3:06d}"})
            done["n"] = n + 1
            time.sleep(0.002)

    writer = threading.Thread(target=run, daemon=True)
    writer.start()
    try:
        yield done
    finally:
        stop.set()
        writer.join(timeout=10)


def seed(client: pymongo.MongoClient, count: int) -> None:
    client.shop.orders.insert_many([{"_id": f"o{n:06d}", "n": n, "total": n * 1.5, "lines": [{"sku": f"s{n}"}]}
                                    for n in range(count)])
    client.shop.users.insert_many([{"_id": f"u{n:04d}", "name": f"user {n}"} for n in range(50)])


def test_migration_copies_every_selected_collection_and_completes(workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 2500)
    source.shop.ignored.insert_one({"_id": "x"})
    workspace.write("main.dts.yaml", declaration(src, dst, type_="migration", phases="[schema, full]", objects=(
        "[{database: shop, collections: [orders, users], rename: shop2, collection_rename: {users: customers}}]")))
    plan = workspace.run("plan").stdout
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    status = workspace.status("task.copy")
    assert status["state"] == "completed" and status["rows_copied"] == 2550, status
    uri = f"mongodb://127.0.0.1:{dst.port}"
    shown = [plan, (workspace.root / "state" / "dtsctl.state.json").read_text(), json.dumps(status),
             (workspace.runtime / "tasks" / "task.copy" / "agent.log").read_text()]
    assert "(sensitive value)" in plan and not [text for text in shown if uri in text], "the uri is sensitive"
    wait_same(source, destination, ("shop", "orders", "shop2", "orders"), ("shop", "users", "shop2", "customers"))
    assert "ignored" not in destination.shop2.list_collection_names()
    verified = json.loads(workspace.run("verify", "task.copy", "--json").stdout)
    assert verified["equal"] is True, verified
    assert {table["table"] for table in verified["tables"]} == {"shop.orders", "shop.users"}


def test_synchronization_hands_over_from_the_copy_and_survives_kill_9(workspace: Workspace, mongodb_pair) -> None:
    """Writes run during the copy and the stream; the agent is killed -9 in each; the destination ends equal,
    with nothing lost and no document twice."""
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 6000)
    workspace.write("main.dts.yaml", declaration(src, dst, extra="    throttle: {rps: 3000, mbps: 0}"))
    with writes(source, "shop", "orders") as written:
        workspace.run("apply", "--auto-approve")
        copying = wait_for(lambda: (s := workspace.status("task.copy"))["phase"] == "full"
                           and s["rows_copied"] >= 1000 and s, timeout=30, what="the copy under way")
        os.kill(copying["pid"], signal.SIGKILL)  # kill -9 during the copy, writes going on
        wait_for(lambda: (workspace.status("task.copy").get("pid") or copying["pid"]) != copying["pid"], timeout=60,
                 what="the agent restarted")
        workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "90")
        streaming = workspace.status("task.copy")
        wait_for(lambda: workspace.status("task.copy")["events_applied"] > streaming["events_applied"] + 100,
                 timeout=30, what="the stream under way")
        # nx-27017 deletes the changes behind a stream's last read but the newest 1,000, so a resume
        # from further behind misses changes (a real oplog keeps them): the kill waits until the
        # stream has caught up with the copy's backlog.
        wait_for(lambda: destination.shop.orders.find_one({"_id": f"w{written['n'] - 20:06d}"}),
                 timeout=60, what="the stream caught up with the writer")
        os.kill(workspace.status("task.copy")["pid"], signal.SIGKILL)  # kill -9 during the stream
        time.sleep(1)
    assert written["n"] > 100
    wait_same(source, destination, ("shop", "orders", "shop", "orders"), ("shop", "users", "shop", "users"), timeout=90)
    status = workspace.status("task.copy")
    assert status["state"] == "running" and status["last_error"] is None, status
    assert status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}, status
    assert json.loads(workspace.run("verify", "task.copy", "--json").stdout)["equal"] is True
    workspace.run("destroy", "--auto-approve")
    assert destination.dtsctl.checkpoints.count_documents({}) == 0, "destroy removes the checkpoint"
    assert destination.shop.orders.count_documents({}) == source.shop.orders.count_documents({}), "data stays"


def test_subscription_records_through_consume_and_a_redis_stream(workspace: Workspace, mongodb_pair,
                                                                 redis_source, flush_redis) -> None:
    """Change records in the common envelope (object db.collection, documents as Extended JSON), read with
    `dtsctl consume` and delivered to a Redis Stream."""
    src, _ = mongodb_pair
    source, stream = src.client(), flush_redis(redis_source)
    source.shop.orders.insert_one({"_id": "before-start", "n": 0})
    workspace.write("main.dts.yaml", f"""
        endpoints:
          src: {{engine: mongodb, host: 127.0.0.1, port: {src.port}}}
          cache: {{engine: redis, host: 127.0.0.1, port: {redis_source.port}}}
        tasks:
          cdc:
            type: subscription
            source: src
            objects: [{{database: shop, collections: [orders]}}]
            consumer_groups: [billing]
            deliver_to: {{endpoint: cache, stream: "shop:changes"}}
            retry: {RETRY}
        """)
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.cdc", "--phase", "incremental", "--timeout", "60")
    source.shop.orders.insert_one({"_id": "o1", "n": 1, "big": 2 ** 40, "price": 2.5})
    source.shop.orders.update_one({"_id": "o1"}, {"$set": {"n": 2}})
    source.shop.orders.delete_one({"_id": "o1"})
    wait_for(lambda: workspace.status("task.cdc")["events_applied"] >= 3, timeout=30, what="three changes recorded")
    result = workspace.run("consume", "task.cdc", "--group", "billing", "--timeout", "2")
    changes = [json.loads(line) for line in result.stdout.splitlines()]
    changes = [(r["op"], r["object"], r["before"], r["after"]) for r in changes if r["op"] not in ("begin", "commit")]
    inserted = {"_id": "o1", "n": {"$numberInt": "1"}, "big": {"$numberLong": str(2 ** 40)},
                "price": {"$numberDouble": "2.5"}}
    assert changes == [("insert", "shop.orders", None, inserted),
                       ("update", "shop.orders", {"_id": "o1"}, {**inserted, "n": {"$numberInt": "2"}}),
                       ("delete", "shop.orders", {"_id": "o1"}, None)]
    delivered = wait_for(lambda: [fields for _, fields in stream.xrange("shop:changes")
                                  if fields[b"op"] != b"begin" and fields[b"op"] != b"commit"] or None,
                         timeout=30, what="records in the Redis stream")
    wait_for(lambda: len([1 for _, f in stream.xrange("shop:changes") if f[b"op"] in (b"insert", b"update", b"delete")])
             == 3, timeout=30, what="three records delivered")
    assert delivered[0][b"object"] == b"shop.orders"
    assert json.loads(delivered[0][b"record"])["after"] == inserted


def test_precheck_refuses_a_non_empty_destination_unless_the_policy_says_so_and_filters_the_copy(
        workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 100)
    destination.shop.orders.insert_one({"_id": "o000050", "mine": True})
    objects = "[{database: shop, collections: [orders], filter: {orders: '{\"n\": {\"$gte\": 40}}'}}]"
    workspace.write("main.dts.yaml", declaration(src, dst, type_="migration", phases="[schema, full]", objects=objects))
    refused = workspace.run("apply", "--auto-approve", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert ("the destination collection shop.orders already holds documents; 1 of its first 60 source _ids are "
            "already there: empty it, or set conflict_policy to ignore") in refused.stderr
    assert workspace.run("state", "list").stdout == "" and destination.shop.orders.count_documents({}) == 1

    workspace.write("main.dts.yaml", declaration(src, dst, type_="migration", phases="[schema, full]", objects=objects,
                                                 extra="    conflict_policy: ignore"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    assert destination.shop.orders.count_documents({}) == 60, "only the filtered documents are copied"
    assert destination.shop.orders.find_one({"_id": "o000050"}) == {"_id": "o000050", "mine": True}, "kept"
    assert destination.shop.orders.find_one({"_id": "o000039"}) is None


def test_an_endpoint_with_both_uri_and_host_is_refused_in_words(workspace: Workspace) -> None:
    workspace.write("main.dts.yaml", """
        endpoints:
          src: {engine: mongodb, uri: "mongodb://u:secret@h:1", host: h}
          dst: {engine: mysql, uri: "mongodb://h:2"}
        """)
    result = workspace.run("validate", check=False)
    assert result.returncode == 1 and "secret" not in result.stdout + result.stderr
    assert "give either `uri` or host/port/user/password, not both" in result.stdout + result.stderr
    assert "`uri` is for mongodb endpoints" in result.stdout + result.stderr


def test_a_lost_change_log_resumes_from_the_destination_checkpoint_without_copying_again(
        workspace: Workspace, mongodb_pair) -> None:
    """The destination's checkpoint holds the resume tokens of what it applied (in the same write as the data):
    with the agent's change log gone, the stream continues from there and nothing is copied twice."""
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 300)
    workspace.write("main.dts.yaml", declaration(src, dst))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
    source.shop.orders.insert_one({"_id": "streamed", "n": -1})
    wait_same(source, destination, ("shop", "orders", "shop", "orders"))
    copied = workspace.status("task.copy")["rows_copied"]
    workspace.write("main.dts.yaml", declaration(src, dst, status="paused"))
    workspace.run("apply", "--auto-approve")
    (workspace.runtime / "tasks" / "task.copy" / "changelog.db").unlink()
    source.shop.orders.insert_one({"_id": "while-paused", "n": -2})
    source.shop.orders.delete_one({"_id": "o000007"})
    workspace.write("main.dts.yaml", declaration(src, dst))
    workspace.run("apply", "--auto-approve")
    wait_same(source, destination, ("shop", "orders", "shop", "orders"), ("shop", "users", "shop", "users"))
    status = workspace.status("task.copy")
    assert status["rows_copied"] == copied and status["last_error"] is None, status
    assert "resuming the change stream from the destination's checkpoint" in (
        workspace.runtime / "tasks" / "task.copy" / "agent.log").read_text()


def test_a_task_without_the_full_phase_streams_from_where_the_source_stands(workspace: Workspace, mongodb_pair) -> None:
    """phases [incremental]: nothing is copied, the task reaches incremental and applies what comes after."""
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 20)
    workspace.write("main.dts.yaml", declaration(src, dst, phases="[incremental]"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
    source.shop.orders.insert_one({"_id": "after-start", "n": 1})
    wait_for(lambda: destination.shop.orders.find_one({"_id": "after-start"}), timeout=30, what="the change applied")
    assert destination.shop.orders.count_documents({}) == 1 and workspace.status("task.copy")["rows_copied"] == 0
