"""DDL events of a MongoDB source as subscription records: change events in the manual's shape
("Change Events": create, drop, rename, createIndexes, dropIndexes, dropDatabase) through the
connector's translation into the common envelope, with no server."""

from __future__ import annotations

import datetime
import json
from typing import Any

from bson import Int64, Timestamp

from dtsctl.connectors.mongodb.codec import readable
from dtsctl.connectors.mongodb.events import translate
from dtsctl.engine.documents.changes import Record
from dtsctl.engine.documents.subscription import transaction
from dtsctl.engine.subscription.envelope import Envelope, transaction_records

WALL = datetime.datetime(2023, 5, 1, 10, 0, tzinfo=datetime.timezone.utc)
POSITION = {"streams": {"*": {"_data": "8264"}}}


def records(operation: str, **fields: Any) -> list[Envelope]:
    event = {"_id": {"_data": "8264500D1E000000012B"}, "operationType": operation,
             "clusterTime": Timestamp(1682935326, 1), "wallTime": WALL, "ns": {"db": "engineering", "coll": "users"},
             **fields}
    change = translate(event).change
    return transaction_records(transaction(Record((change,), POSITION, WALL.timestamp()), readable), first_seq=7)


def only_ddl(found: list[Envelope]) -> dict[str, Any]:
    assert [record["op"] for record in found] == ["begin", "ddl", "commit"]
    record = found[1]
    assert record["object"] == "engineering.users" and record["before"] is None and record["after"] is None
    assert record["ddl"]["dialect"] == "mongodb" and record["xid"] == 7
    return record["ddl"]


def test_a_created_collection_carries_its_options_and_the_command_that_repeats_it():
    ddl = only_ddl(records("create", operationDescription={
        "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}, "capped": True, "size": Int64(4096)}))
    assert ddl["kind"] == "create" and ddl["new_table"] is None
    assert json.loads(ddl["body"]) == {"create": "users", "capped": True, "size": {"$numberLong": "4096"}}
    assert ddl["statement"] == f'db.getSiblingDB("engineering").runCommand({ddl["body"]})'


def test_drop_and_rename_name_the_collections():
    assert json.loads(only_ddl(records("drop"))["body"]) == {"drop": "users"}
    renamed = only_ddl(records("rename", to={"db": "archive", "coll": "people"},
                               operationDescription={"to": {"db": "archive", "coll": "people"}}))
    assert renamed["kind"] == "rename" and renamed["new_table"] == "people"
    assert json.loads(renamed["body"]) == {"renameCollection": "engineering.users", "to": "archive.people"}
    assert renamed["statement"] == f"db.adminCommand({renamed['body']})"


def test_index_changes_alter_the_collection():
    created = only_ddl(records("createIndexes", operationDescription={
        "indexes": [{"v": 2, "key": {"name": 1}, "name": "name_1", "unique": True}]}))
    assert created["kind"] == "alter"
    assert json.loads(created["body"]) == {"createIndexes": "users", "indexes": [
        {"v": {"$numberInt": "2"}, "key": {"name": {"$numberInt": "1"}}, "name": "name_1", "unique": True}]}
    dropped = only_ddl(records("dropIndexes", operationDescription={
        "indexes": [{"v": 2, "key": {"name": 1}, "name": "name_1"}]}))
    assert dropped["kind"] == "alter" and json.loads(dropped["body"]) == {"dropIndexes": "users", "index": ["name_1"]}


def test_a_dropped_database_is_recorded_by_the_drops_of_its_collections_that_come_first():
    assert records("dropDatabase", ns={"db": "engineering"}) == []
