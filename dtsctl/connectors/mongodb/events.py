"""Change events (the MongoDB manual's "Change Events" shapes) -> engine DocumentChanges.

Pure functions, so they are tested with events built exactly as the manual shows them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Mapping

from bson import Timestamp

from dtsctl.connectors.mongodb.codec import pack, to_ejson
from dtsctl.engine.documents.changes import DocumentChange

DATA_OPS = {"insert": "insert", "replace": "replace", "update": "update", "delete": "delete"}
INVALIDATE = "invalidate"


@dataclass(frozen=True)
class Translated:
    """One change event: its change (None for an event dtsctl does not replicate), the transaction
    it belongs to (None outside one), its resume token and commit time."""

    change: DocumentChange | None
    transaction: str | None
    token: Any
    commit_time: float
    invalidates: bool = False


def translate(event: Mapping[str, Any]) -> Translated:
    op = event["operationType"]
    return Translated(_change(op, event), transaction_of(event), event["_id"], commit_time(event),
                      invalidates=op == INVALIDATE)


def transaction_of(event: Mapping[str, Any]) -> str | None:
    """`lsid` + `txnNumber`: the same for every change of one multi-document transaction."""
    lsid, number = event.get("lsid"), event.get("txnNumber")
    if lsid is None or number is None:
        return None
    return f"{to_ejson(lsid)}:{int(number)}"


def commit_time(event: Mapping[str, Any]) -> float:
    """`wallTime` (6.0+), else the seconds of `clusterTime`."""
    wall = event.get("wallTime")
    if isinstance(wall, datetime.datetime):
        return (wall if wall.tzinfo else wall.replace(tzinfo=datetime.timezone.utc)).timestamp()
    cluster = event.get("clusterTime")
    if isinstance(cluster, Timestamp):
        return float(cluster.time)
    return datetime.datetime.now(datetime.timezone.utc).timestamp()


def _change(op: str, event: Mapping[str, Any]) -> DocumentChange | None:
    ns = event.get("ns") or {}
    database, collection = ns.get("db", ""), ns.get("coll", "")
    if op in DATA_OPS:
        document, before = event.get("fullDocument"), event.get("fullDocumentBeforeChange")
        return DocumentChange(DATA_OPS[op], database, collection,  # type: ignore[arg-type]
                              id=to_ejson((event.get("documentKey") or {}).get("_id")),
                              document=None if document is None else pack(document),
                              before=None if before is None else pack(before))
    ddl = _ddl(op, event)
    return None if ddl is None else DocumentChange("ddl", database, collection, ddl=ddl)


def _ddl(op: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
    description = event.get("operationDescription") or {}
    if op == "create":
        options = {name: value for name, value in description.items() if name != "idIndex"}  # implied
        return {"kind": "create", "options": to_ejson(options)}
    if op == "drop":
        return {"kind": "drop"}
    if op == "dropDatabase":
        return {"kind": "drop_database"}
    if op == "rename":
        to = event.get("to") or description.get("to") or {}
        return {"kind": "rename", "to": [to.get("db"), to.get("coll")]}
    if op == "createIndexes":
        return {"kind": "create_indexes", "indexes": to_ejson(description.get("indexes") or [])}
    if op == "dropIndexes":
        return {"kind": "drop_indexes", "indexes": [index["name"] for index in description.get("indexes") or []]}
    return None  # invalidate, modify, shardCollection, ...: nothing to replay
