"""What nx-27017 cannot show, against a real replica set (DTSCTL_TEST_MONGODB_URI); skipped without one,
with that reason. Each test uses databases of its own and drops them."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Timestamp

from dtsctl.connectors.mongodb.sink import MongoSink
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.engine.conflicts import ConflictPolicy, Conflicts
from dtsctl.engine.documents.changes import DocumentChange, Record
from dtsctl.engine.documents.loop import written_by
from dtsctl.engine.errors import ConflictError
from dtsctl.engine.origin import PairTags
from dtsctl.engine.task import TaskSpec
from tests.e2e.cli import Workspace, wait_for
from tests.servers.mongodb import REAL_URI_VARIABLE

EVERY_ID = [ObjectId("65f0c0ffee00000000000001"), "text", 7, Int64(8), 9.5, Decimal128("10.25"),
            datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc), Binary(b"\x01\x02", 0),
            Binary(b"\x00" * 16, 4), {"a": 1, "b": [1, 2]}, True, None, MinKey(), MaxKey(), Timestamp(5, 1)]


@pytest.fixture
def databases(real_mongodb: pymongo.MongoClient) -> Iterator[tuple[str, str]]:
    names = (f"dts_src_{os.urandom(3).hex()}", f"dts_dst_{os.urandom(3).hex()}")
    yield names
    for name in names:
        real_mongodb.drop_database(name)


def spec(objects: list[dict[str, Any]], tags: PairTags | None = None,
         policy: ConflictPolicy = ConflictPolicy.FAIL) -> TaskSpec:
    endpoint = {"engine": "mongodb", "uri": os.environ[REAL_URI_VARIABLE]}
    return TaskSpec(f"it-{os.urandom(3).hex()}", "synchronization", ("schema", "full", "incremental"),
                    tuple(objects), policy, 0, 0, (), "UTC", 1, endpoint, endpoint, tags=tags)


def stream_records(source: MongoSource, until: int, timeout: float = 20) -> list[Record]:
    found: list[Record] = []
    deadline = time.monotonic() + timeout
    while len([r for r in found if r.changes]) < until and time.monotonic() < deadline:
        records, _ = source.read(0.2)
        found.extend(records)
    return [record for record in found if record.changes and not record.copy]


def open_stream(task: TaskSpec) -> MongoSource:
    source = MongoSource(task)
    source.open(None, copy=False)
    while source._position.get("copy") is not None or source._queued:
        source.read(0.1)
    return source


def test_a_batch_and_its_checkpoint_commit_together_or_not_at_all(real_mongodb, databases) -> None:
    src, _ = databases
    task = spec([{"database": src}])
    sink = MongoSink(task)
    assert sink.transactional, "a replica set has multi-document transactions"
    real_mongodb[src].c.insert_one({"_id": "taken"})
    changes = [DocumentChange("insert", src, "c", id="new", document={"_id": "new"}),
               DocumentChange("insert", src, "c", id="taken", document={"_id": "taken"})]
    with pytest.raises(ConflictError):
        sink.apply(changes, False, Conflicts(ConflictPolicy.FAIL), lambda counts: {"applied_seq": 2})
    assert real_mongodb[src].c.find_one({"_id": "new"}) is None and sink.load_checkpoint() is None
    sink.apply(changes[:1], False, Conflicts(ConflictPolicy.FAIL), lambda counts: {"applied_seq": 1})
    assert real_mongodb[src].c.find_one({"_id": "new"}) and sink.load_checkpoint() == {"applied_seq": 1}
    sink.delete_checkpoint()


def test_two_way_the_peer_recognises_a_marked_transaction_and_a_cascade_still_sees_it(real_mongodb, databases) -> None:
    src, _ = databases
    forward = spec([{"database": src}], tags=PairTags(own="fwd", peer="rev"))
    reverse = spec([{"database": src}], tags=PairTags(own="rev", peer="fwd"))
    reader, cascade = open_stream(reverse), open_stream(spec([{"database": src}]))
    sink = MongoSink(forward)
    sink.apply([DocumentChange("insert", src, "c", id="a", document={"_id": "a"}),
                DocumentChange("insert", src, "c", id="b", document={"_id": "b"})],
               False, Conflicts(ConflictPolicy.IGNORE), lambda counts: {"applied_seq": 1})
    real_mongodb[src].c.insert_one({"_id": "local"})
    records = stream_records(reader, 2)
    assert [written_by(record, reverse.dropped_origin or "") for record in records] == [True, False]
    assert [change.id for change in records[1].changes] == ["local"]
    assert [change.id for change in stream_records(cascade, 2)[0].changes if change.database == src] == ["a", "b"]
    sink.delete_checkpoint()


def test_ddl_events_are_read_for_forwarding(real_mongodb, databases) -> None:
    src, _ = databases
    real_mongodb[src].create_collection("c")
    source = open_stream(spec([{"database": src}]))
    real_mongodb[src].c.create_index([("n", 1)], unique=True, name="n_1")
    real_mongodb[src].c.drop_index("n_1")
    real_mongodb.admin.command("renameCollection", f"{src}.c", to=f"{src}.d")
    real_mongodb[src].drop_collection("d")
    kinds = [change.ddl["kind"] for record in stream_records(source, 4) for change in record.changes]
    assert kinds == ["create_indexes", "drop_indexes", "rename", "drop"]


def test_pre_images_become_the_before_document(real_mongodb, databases) -> None:
    src, _ = databases
    real_mongodb[src].create_collection("c", changeStreamPreAndPostImages={"enabled": True})
    real_mongodb[src].c.insert_one({"_id": 1, "v": "old"})
    source = open_stream(spec([{"database": src}]))
    real_mongodb[src].c.update_one({"_id": 1}, {"$set": {"v": "new"}})
    change = stream_records(source, 1)[0].changes[0]
    assert change.before == {"_id": {"$numberInt": "1"}, "v": "old"}


def test_every_id_type_through_the_cli(real_mongodb, databases, tmp_path) -> None:
    """Copy and stream documents with an _id of every type into another database; verify finds them equal."""
    src, dst = databases
    real_mongodb[src].c.insert_many([{"_id": value, "n": index} for index, value in enumerate(EVERY_ID[:10])])
    workspace = Workspace(tmp_path)
    workspace.write("main.dts.yaml", f"""
        endpoints:
          a: {{engine: mongodb, uri: "{os.environ[REAL_URI_VARIABLE]}"}}
          b: {{engine: mongodb, uri: "{os.environ[REAL_URI_VARIABLE]}"}}
        tasks:
          copy: {{type: synchronization, source: a, destination: b, objects: [{{database: {src}, rename: {dst}}}]}}
        """)
    try:
        workspace.run("apply", "--auto-approve")
        workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
        real_mongodb[src].c.insert_many([{"_id": value, "n": 100} for value in EVERY_ID[10:]])
        real_mongodb[src].c.update_one({"_id": EVERY_ID[0]}, {"$set": {"n": -1}})
        real_mongodb[src].c.delete_one({"_id": EVERY_ID[1]})
        wait_for(lambda: real_mongodb[dst].c.count_documents({}) == len(EVERY_ID) - 1, timeout=30,
                 what="every _id type copied and streamed")
        assert '"equal": true' in workspace.run("verify", "task.copy", "--json").stdout
    finally:
        workspace.run("destroy", "--auto-approve", check=False)
        workspace.kill_everything()


def test_a_collection_filter_narrows_the_change_stream_but_never_deletes(real_mongodb, databases) -> None:
    src, _ = databases
    real_mongodb[src].create_collection("c")
    source = open_stream(spec([{"database": src, "collections": ["c"], "filter": {"c": '{"v": {"$gt": 1}}'}}]))
    real_mongodb[src].c.insert_many([{"_id": 1, "v": 1}, {"_id": 2, "v": 2}])
    real_mongodb[src].c.delete_one({"_id": 1})
    changes = [(change.op, change.id) for record in stream_records(source, 2) for change in record.changes]
    assert changes == [("insert", {"$numberInt": "2"}), ("delete", {"$numberInt": "1"})]


def test_ddl_is_replayed_on_the_destination(real_mongodb, databases) -> None:
    src, dst = databases
    sink = MongoSink(spec([{"database": src}]))
    index = [{"v": 2, "key": {"n": 1}, "name": "n_1", "unique": True, "partialFilterExpression": {"n": {"$gt": 0}}}]
    sink.apply_ddl(DocumentChange("ddl", dst, "c", ddl={"kind": "create", "options": {}}), {"applied_seq": 1})
    sink.apply_ddl(DocumentChange("ddl", dst, "c", ddl={"kind": "create_indexes", "indexes": index}), {"applied_seq": 2})
    sink.apply_ddl(DocumentChange("ddl", dst, "c", ddl={"kind": "rename", "to": [dst, "d"]}), {"applied_seq": 3})
    sink.apply_ddl(DocumentChange("ddl", dst, "c", ddl={"kind": "rename", "to": [dst, "d"]}), {"applied_seq": 4})
    info = real_mongodb[dst].d.index_information()
    assert info["n_1"]["unique"] and info["n_1"]["partialFilterExpression"] == {"n": {"$gt": 0}}
    assert sink.load_checkpoint() == {"applied_seq": 4}, "a rename replayed after a restart is already done"
    sink.delete_checkpoint()
