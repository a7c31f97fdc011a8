"""The MongoDB source: the change streams' resume points, then the full copy by _id, then the streams.

Each stream's resume point is taken before the copy reads anything, so every change made
during the copy is read afterwards (and applied idempotently: `Record.replay`). The copy
reads each collection in `_id` order, a chunk at a time; the position after a chunk names
the last `_id` copied, so a restart resumes with the next range. Changes are grouped by
transaction (`lsid` + `txnNumber`) into one Record each, and the position only ever moves
past a whole transaction.

Streams: one per selected collection when every object lists its collections (and the task
is not a direction of a two-way pair), else one cluster-wide stream narrowed by `$match`.
"""

from __future__ import annotations

import contextlib
import copy as copying
import datetime
import re
import time
from dataclasses import dataclass, field
from typing import Any

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from pymongo.change_stream import ChangeStream
from pymongo.errors import OperationFailure

from dtsctl.connectors.mongodb import filters, schema
from dtsctl.connectors.mongodb.client import check, connect, failures
from dtsctl.connectors.mongodb.codec import RAW_CODEC, from_ejson, pack, to_ejson
from dtsctl.connectors.mongodb.events import Translated, translate
from dtsctl.engine.checkpoint import RESEED
from dtsctl.engine.documents.changes import COPY_BEGIN, COPY_END, DocumentChange, Record
from dtsctl.engine.documents.interfaces import DocumentSource
from dtsctl.engine.documents.loop import MARKER_COLLECTION
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE, Selection
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import Position
from dtsctl.engine.task import TaskSpec

CHUNK_DOCUMENTS = 1_000
MAX_RECORDS_PER_READ = 500
AWAIT_MS = 100
CLUSTER = "*"  # the key of the cluster-wide stream
HISTORY_LOST = (286, 280)  # ChangeStreamHistoryLost, ChangeStreamFatalError
# BSON comparison order of the types an _id can have after each one (the manual, "Comparison/Sort Order"):
# `$gt` only matches values of the same type, so a range continues with every later type.
_TYPE_ORDER = ("minKey", "null", "number", "string", "object", "binData", "objectId", "bool", "date", "timestamp",
               "regex", "maxKey")
_DATA_OPS = ["insert", "update", "replace"]


@dataclass
class _Stream:
    cursor: ChangeStream | None = None
    group: list[Translated] = field(default_factory=list)  # a transaction still arriving
    start_after: bool = False  # its token is an invalidate event's: resume with startAfter


class MongoSource(DocumentSource):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.endpoint = spec.source_endpoint
        self.client = connect(self.endpoint)
        self._raw = connect(self.endpoint, RAW_CODEC)  # documents and events stay BSON bytes (codec.py)
        self.selection = Selection(spec.objects)
        self._position: dict[str, Any] = {}
        self._streams: dict[str, _Stream] = {}
        self._queued: list[Record] = []

    def check_connection(self) -> None:
        check(self.client, self.endpoint)

    # -- opening ------------------------------------------------------------------------
    def open(self, position: Position | None, copy: bool) -> None:
        self._close_streams()  # opened again: a shared log's reader starts over for a new destination
        self._queued = []
        with failures(self.endpoint, "read from"):
            if position is not None:
                self._position = position
                return
            tokens = {key: self.current_token(key) for key in self.stream_keys()}
            collections = {f"{db}.{name}": {"estimate": self.client[db][name].estimated_document_count(),
                                            "schema": schema.read(self.client[db], name)}
                           for db in self.selection.databases for name in self.collections(db)}
            # without `copy` the next read ends the (empty) copy at once
            self._position = {"streams": tokens, "copy": {"todo": list(collections) if copy else [], "after": None},
                              "replay": True, "invalidated": []}
            self._queued.append(Record.make_control(COPY_BEGIN, self._snapshot(), time.time(),
                                                    collections=collections, data=copy))

    def current_token(self, key: str) -> Any:
        """Where stream `key` stands now (its first batch's postBatchResumeToken)."""
        with contextlib.closing(self.watch(key, None)) as stream:
            return to_ejson(stream.resume_token)

    def stream_keys(self) -> list[str]:
        if self.spec.tags is None and all(entry.get("collections") is not None for entry in self.spec.objects):
            return [f"{db}.{name}" for db in self.selection.databases for name in self.selection.collections(db) or ()]
        return [CLUSTER]

    def collections(self, database: str) -> list[str]:
        listed = self.selection.collections(database)
        names = listed if listed is not None else sorted(self.client[database].list_collection_names())
        present = set(self.client[database].list_collection_names())
        return [name for name in names if name in present and self.selection.wanted(database, name)]

    # -- reading ------------------------------------------------------------------------
    def read(self, wait_seconds: float) -> tuple[list[Record], Position]:
        with failures(self.endpoint, "read from"):
            if self._queued:
                records, self._queued = self._queued, []
                return records, self._snapshot()
            if self._position.get("copy") is not None:
                return self._copy_chunk(), self._snapshot()
            return self._read_streams(wait_seconds), self._snapshot()

    def _snapshot(self) -> Position:
        return copying.deepcopy(self._position)

    def _copy_chunk(self) -> list[Record]:
        copy = self._position["copy"]
        if not copy["todo"]:
            self._position["copy"] = None
            return [Record.make_control(COPY_END, None, time.time())]
        namespace = copy["todo"][0]
        database, _, collection = namespace.partition(".")
        query = filters.parse(self.selection.filter(database, collection)) or {}
        after = copy["after"]
        if after is not None:
            query = {"$and": [query, after_id(from_ejson(after))]} if query else after_id(from_ejson(after))
        documents = list(self._raw[database][collection].find(query).sort("_id", 1).limit(CHUNK_DOCUMENTS))
        if not documents:
            copy["todo"].pop(0)
            copy["after"] = None
            return []
        copy["after"] = to_ejson(documents[-1]["_id"])
        changes = tuple(DocumentChange("insert", database, collection, id=to_ejson(document["_id"]),
                                       document=pack(document)) for document in documents)
        return [Record(changes, None, time.time(), copy=True)]

    def _read_streams(self, wait_seconds: float) -> list[Record]:
        records: list[Record] = []
        caught_up = True
        for key in self.stream_keys():
            try:
                records.extend(self._read_stream(key))
            except OperationFailure as exc:
                if exc.code in HISTORY_LOST:
                    raise FatalError(f"the source's oplog no longer holds this task's resume point (change stream "
                                     f"history lost: the agent was stopped longer than the oplog window); {RESEED}"
                                     ) from None
                raise
            caught_up = caught_up and not self._streams[key].group
        if caught_up and self._position["replay"] and not records:
            self._position["replay"] = False  # every change made during the copy is applied by now
        if not records:
            time.sleep(min(wait_seconds, AWAIT_MS / 1000))
        return records

    def _read_stream(self, key: str) -> list[Record]:
        stream = self._streams.get(key)
        if stream is None or stream.cursor is None:
            invalidated = key in self._position.get("invalidated", [])
            token = self._position["streams"].get(key)
            stream = self._streams[key] = _Stream(self.watch(key, token, start_after=invalidated))
        records: list[Record] = []
        while len(records) < MAX_RECORDS_PER_READ:
            event = stream.cursor.try_next()
            if event is None:
                records.extend(self._flush(key, stream))
                if not stream.group and stream.cursor.resume_token is not None:
                    self._position["streams"][key] = to_ejson(stream.cursor.resume_token)
                break
            translated = translate(event)
            if stream.group and (translated.transaction is None
                                 or translated.transaction != stream.group[0].transaction):
                records.extend(self._flush(key, stream))
            stream.group.append(translated)
            if translated.invalidates:  # the collection was dropped or renamed: this stream ends here
                self._position.setdefault("invalidated", []).append(key)
                records.extend(self._flush(key, stream))
                stream.cursor.close()
                stream.cursor = None
                break
            if translated.transaction is None:
                records.extend(self._flush(key, stream))
        return records

    def _flush(self, key: str, stream: _Stream) -> list[Record]:
        """The complete transaction (or single change) held for `key`, as one Record."""
        group, stream.group = stream.group, []
        if not group:
            return []
        self._position["streams"][key] = to_ejson(group[-1].token)
        if key in self._position.get("invalidated", []) and not group[-1].invalidates:
            self._position["invalidated"].remove(key)
        changes = tuple(item.change for item in group if item.change is not None)
        if not changes:
            return []
        return [Record(changes, self._snapshot(), group[-1].commit_time, replay=self._position["replay"])]

    def watch(self, key: str, token: Any, start_after: bool = False) -> ChangeStream:
        resume = from_ejson(token) if token is not None else None
        options: dict[str, Any] = {"full_document": "updateLookup", "max_await_time_ms": AWAIT_MS,
                                   "full_document_before_change": "whenAvailable", "show_expanded_events": True}
        if resume is not None:
            options["start_after" if start_after else "resume_after"] = resume
        if key == CLUSTER:
            return self._raw.watch(self._cluster_pipeline(), **options)
        database, _, collection = key.partition(".")
        query = filters.parse(self.selection.filter(database, collection))
        pipeline = [] if query is None else [{"$match": {"$or": [{"operationType": {"$nin": _DATA_OPS}},
                                                                 filters.on_full_document(query)]}}]
        return self._raw[database][collection].watch(pipeline, **options)

    def _cluster_pipeline(self) -> list[dict[str, Any]]:
        selected = [{"ns.db": {"$in": self.selection.databases}}]
        if self.spec.tags is not None:
            selected.append({"ns.db": BOOKKEEPING_DATABASE, "ns.coll": MARKER_COLLECTION})
        stages: list[dict[str, Any]] = [{"$match": {"$or": selected}}]
        excluded = []
        for db in self.selection.databases:
            for name in self.selection.collections(db) or []:
                query = filters.parse(self.selection.filter(db, name))
                if query is not None:
                    excluded.append({"ns.db": db, "ns.coll": name, "operationType": {"$in": _DATA_OPS},
                                     "$nor": [filters.on_full_document(query)]})
        if excluded:
            stages.append({"$match": {"$nor": excluded}})
        return stages

    def describe_position(self, position: Position) -> str:
        if not position:
            return ""
        copy = position.get("copy")
        if copy is not None:
            return f"copying {copy['todo'][0]}" if copy["todo"] else "copy done"
        return "change stream " + ", ".join(f"{key}: {str((token or {}).get('_data', ''))[:24]}"
                                            for key, token in sorted(position.get("streams", {}).items()))

    def _close_streams(self) -> None:
        for stream in self._streams.values():
            if stream.cursor is not None:
                stream.cursor.close()
        self._streams = {}

    def close(self) -> None:
        self._close_streams()
        self.client.close()
        self._raw.close()


def after_id(last: Any) -> dict[str, Any]:
    """Documents whose _id sorts after `last` in MongoDB's order, whatever their type."""
    later = _TYPE_ORDER[_TYPE_ORDER.index(type_alias(last)) + 1:]
    return {"$or": [{"_id": {"$gt": last}}, *({"_id": {"$type": alias}} for alias in later)]}


def type_alias(value: Any) -> str:
    """The `$type` alias of the bracket `value` sorts in."""
    checks: tuple[tuple[Any, str], ...] = (
        (MinKey, "minKey"), (MaxKey, "maxKey"), (type(None), "null"), (bool, "bool"),
        ((int, float, Int64, Decimal128), "number"), (str, "string"), (dict, "object"),
        ((bytes, Binary), "binData"), (ObjectId, "objectId"), (datetime.datetime, "date"),
        (Timestamp, "timestamp"), ((Regex, re.Pattern), "regex"))
    for types, alias in checks:
        if isinstance(value, types):
            return alias
    return "object"
