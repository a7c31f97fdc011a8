"""Change events -> DocumentChanges, with events built exactly as the MongoDB manual's "Change Events"
pages show them (fields, nesting and BSON types), so no server is needed."""

from __future__ import annotations

import datetime
import uuid

import bson
from bson import Binary, Int64, ObjectId, Timestamp

from dtsctl.connectors.mongodb.codec import CODEC, from_ejson, unpack
from dtsctl.connectors.mongodb.events import translate

WALL = datetime.datetime(2020, 3, 10, 18, 14, 56, 213000, tzinfo=datetime.timezone.utc)
ALICE = ObjectId("599af247bb69cd89961c986d")
LSID = {"id": Binary(uuid.UUID("5fa8c8fb-3fd0-4c57-a6fc-6cd34fda7f1e").bytes, 4), "uid": Binary(b"\x01" * 32, 0)}


def decoded(packed: str) -> dict:
    return bson.decode(unpack(packed).raw, codec_options=CODEC)


def base(operation: str, **fields) -> dict:
    return {"_id": {"_data": "8262E7D5A1000000012B022C0100296E5A1004"}, "operationType": operation,
            "clusterTime": Timestamp(1583864096, 1), "wallTime": WALL,
            "ns": {"db": "engineering", "coll": "users"}, **fields}


def test_insert_carries_the_full_document_exactly_and_its_id_from_the_document_key():
    document = {"_id": ALICE, "userName": "alice123", "name": "Alice", "visits": Int64(3), "score": 1.0}
    translated = translate(base("insert", fullDocument=document,
                                documentKey={"userName": "alice123", "_id": ALICE}))
    change = translated.change
    assert (change.op, change.database, change.collection) == ("insert", "engineering", "users")
    assert change.id == {"$oid": "599af247bb69cd89961c986d"}
    assert decoded(change.document) == document
    assert type(decoded(change.document)["visits"]) is Int64 and type(decoded(change.document)["score"]) is float
    assert translated.transaction is None and translated.token == {"_data": "8262E7D5A1000000012B022C0100296E5A1004"}
    assert translated.commit_time == WALL.timestamp()


def test_update_uses_the_looked_up_document_and_the_pre_image_when_present():
    after = {"_id": ALICE, "email": "alice@10gen.com"}
    before = {"_id": ALICE, "phoneNumber": "555"}
    change = translate(base("update", documentKey={"_id": ALICE},
                            updateDescription={"updatedFields": {"email": "alice@10gen.com"},
                                               "removedFields": ["phoneNumber"], "truncatedArrays": []},
                            fullDocument=after, fullDocumentBeforeChange=before)).change
    assert change.op == "update" and decoded(change.document) == after and decoded(change.before) == before


def test_update_of_a_document_deleted_since_has_no_document():
    change = translate(base("update", documentKey={"_id": ALICE}, fullDocument=None,
                            updateDescription={"updatedFields": {"a": 1}, "removedFields": []})).change
    assert change.op == "update" and change.document is None


def test_replace_and_delete():
    replaced = translate(base("replace", documentKey={"_id": ALICE}, fullDocument={"_id": ALICE, "x": 1})).change
    deleted = translate(base("delete", documentKey={"_id": ALICE})).change
    assert replaced.op == "replace" and deleted.op == "delete" and deleted.document is None
    assert deleted.id == {"$oid": str(ALICE)}


def test_events_of_one_transaction_share_its_lsid_and_txn_number():
    first = translate(base("insert", fullDocument={"_id": 1}, documentKey={"_id": 1}, lsid=LSID, txnNumber=Int64(7)))
    second = translate(base("delete", documentKey={"_id": 2}, lsid=LSID, txnNumber=Int64(7)))
    other = translate(base("delete", documentKey={"_id": 3}, lsid=LSID, txnNumber=Int64(8)))
    assert first.transaction == second.transaction != other.transaction
    assert first.transaction is not None


def test_ddl_events():
    renamed = translate(base("rename", to={"db": "engineering", "coll": "people"})).change
    assert renamed.op == "ddl" and renamed.ddl == {"kind": "rename", "to": ["engineering", "people"]}
    assert translate(base("drop")).change.ddl == {"kind": "drop"}
    assert translate(base("dropDatabase", ns={"db": "engineering"})).change.ddl == {"kind": "drop_database"}
    created = translate(base("createIndexes", operationDescription={
        "indexes": [{"v": 2, "key": {"name": 1}, "name": "name_1", "unique": True}]})).change
    assert created.ddl["kind"] == "create_indexes"
    assert from_ejson(created.ddl["indexes"]) == [{"v": 2, "key": {"name": 1}, "name": "name_1", "unique": True}]
    dropped = translate(base("dropIndexes", operationDescription={"indexes": [{"v": 2, "key": {"name": 1},
                                                                               "name": "name_1"}]})).change
    assert dropped.ddl == {"kind": "drop_indexes", "indexes": ["name_1"]}
    collection = translate(base("create", operationDescription={"idIndex": {"v": 2, "key": {"_id": 1},
                                                                           "name": "_id_"}})).change
    assert collection.ddl["kind"] == "create"


def test_invalidate_ends_a_stream_and_carries_no_change():
    translated = translate({"_id": {"_data": "82"}, "operationType": "invalidate", "clusterTime": Timestamp(1, 1),
                            "wallTime": WALL})
    assert translated.invalidates and translated.change is None


def test_commit_time_falls_back_to_the_cluster_time_before_6_0():
    event = base("delete", documentKey={"_id": 1})
    del event["wallTime"]
    assert translate(event).commit_time == 1583864096.0
