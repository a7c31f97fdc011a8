"""Two-way loop prevention without a server: change events in the manual's shape (a transaction's events
carry its `lsid` and `txnNumber`) are grouped per transaction by the source, and the opposite direction
drops exactly the transactions that hold its peer's marker."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from bson import Binary, Int64, Timestamp
from pymongo.errors import OperationFailure

from dtsctl.connectors.mongodb.source import MongoSource, _Stream
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.documents.loop import MARKER_COLLECTION, written_by
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE
from dtsctl.engine.errors import FatalError
from dtsctl.engine.origin import PairTags
from dtsctl.engine.task import TaskSpec

PEER, OWN = "peer-tag", "own-tag"
WALL = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)


def session(n: int) -> dict[str, Any]:
    return {"id": Binary(uuid.UUID(int=n).bytes, 4), "uid": Binary(b"\x02" * 32, 0)}


def event(n: int, op: str, db: str, coll: str, _id: Any, txn: tuple[int, int] | None = None) -> dict[str, Any]:
    data = {"_id": {"_data": f"82{n:04d}"}, "operationType": op, "clusterTime": Timestamp(1714557600, n),
            "wallTime": WALL, "ns": {"db": db, "coll": coll}, "documentKey": {"_id": _id}}
    if op != "delete":
        data["fullDocument"] = {"_id": _id, "n": n}
    if txn is not None:
        data.update(lsid=session(txn[0]), txnNumber=Int64(txn[1]))
    return data


class Cursor:
    """What ChangeStream.try_next gives: the events available, then None (the batch is exhausted)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = list(events)
        self.resume_token = None

    def try_next(self) -> dict[str, Any] | None:
        if not self.events:
            return None
        current = self.events.pop(0)
        self.resume_token = current["_id"]
        return current

    def close(self) -> None:
        pass


def source(tags: PairTags | None) -> MongoSource:
    spec = TaskSpec("t", "synchronization", ("incremental",), ({"database": "shop"},), ConflictPolicy.IGNORE,
                    0, 0, (), "UTC", 1, {"engine": "mongodb", "host": "127.0.0.1", "port": 1}, None, tags=tags)
    reader = MongoSource(spec)
    reader._position = {"streams": {"*": None}, "copy": None, "replay": False, "invalidated": []}
    return reader


def read(reader: MongoSource, events: list[dict[str, Any]]):
    reader._streams["*"] = _Stream(Cursor(events))
    return reader._read_stream("*")


PEER_TRANSACTION = [event(1, "update", BOOKKEEPING_DATABASE, MARKER_COLLECTION, PEER, txn=(1, 5)),
                    event(2, "insert", "shop", "orders", "a", txn=(1, 5)),
                    event(3, "delete", "shop", "orders", "b", txn=(1, 5))]


def test_a_transaction_is_one_record_and_the_position_never_stops_inside_it():
    reader = source(PairTags(own=OWN, peer=PEER))
    local = event(4, "insert", "shop", "orders", "c")
    other_txn = [event(5, "insert", "shop", "orders", "d", txn=(2, 1)), event(6, "insert", "shop", "orders", "e",
                                                                             txn=(2, 1))]
    records = read(reader, [*PEER_TRANSACTION, local, *other_txn])
    assert [[change.id for change in record.changes] for record in records] == [[PEER, "a", "b"], ["c"], ["d", "e"]]
    assert [record.position["streams"]["*"] for record in records] == [{"_data": "820003"}, {"_data": "820004"},
                                                                       {"_data": "820006"}]


def test_the_peer_transaction_is_dropped_whole_and_nothing_else():
    reader = source(PairTags(own=OWN, peer=PEER))
    own_marker = event(7, "update", BOOKKEEPING_DATABASE, MARKER_COLLECTION, OWN, txn=(3, 1))
    records = read(reader, [*PEER_TRANSACTION, event(4, "insert", "shop", "orders", "c"),
                            own_marker, event(8, "insert", "shop", "orders", "f", txn=(3, 1))])
    kept = [record for record in records if not written_by(record, PEER)]
    assert [[change.id for change in record.changes] for record in kept] == [["c"], [OWN, "f"]]


def test_a_cascade_reading_the_same_side_sees_every_change():
    """A one-way task has no peer: the peer's transaction reaches its change log whole."""
    records = read(source(None), PEER_TRANSACTION)
    assert not any(written_by(record, "some-other-pair") for record in records)
    assert [change.id for change in records[0].changes] == [PEER, "a", "b"]


def test_lost_change_stream_history_stops_the_task_asking_to_re_seed():
    """ChangeStreamHistoryLost (286): the resume point fell off the oplog; nothing is silently skipped."""
    class Lost(Cursor):
        def try_next(self):
            raise OperationFailure("Resume of change stream was not possible", code=286)

    reader = source(None)
    reader._streams["*"] = _Stream(Lost([]))
    try:
        reader._read_streams(0)
    except FatalError as exc:
        assert "history lost" in str(exc) and "re-seed" in str(exc)
    else:
        raise AssertionError("history loss was not reported")
