"""verify for MongoDB: per selected collection, the documents that differ by _id (exact BSON).

Each collection is read whole at both ends (not in `_id` chunks: nx-27017 and small
collections make a chunked digest no cheaper than comparing the BSON itself), and the
source read is tagged with the position of the collection's change stream right after it.
Differing `_id`s are suspects that `dtsctl.engine.verification.settle` decides once the
applier has passed that position. A repair reads the differing documents again while the
change log's reader is held and appends them as one idempotent record (replace by `_id`,
delete for an `_id` gone), so the applier writes it in order with the stream.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from pymongo.collection import Collection

from dtsctl.connectors.mongodb import filters
from dtsctl.connectors.mongodb.client import connect, failures
from dtsctl.connectors.mongodb.codec import RAW_CODEC, from_ejson, pack, to_ejson
from dtsctl.connectors.mongodb.sink import MongoSink
from dtsctl.connectors.mongodb.source import CLUSTER, MongoSource
from dtsctl.engine.documents.changes import DocumentChange, Record
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.events import Position
from dtsctl.engine.task import TaskSpec
from dtsctl.engine.verification import (ApplierWatch, Key, ObjectReport, Suspects, Value, VerifyOptions,
                                        VerifyProgress, append_repairs, check_repaired, chosen, compare, opened,
                                        repair_log, settle)

REPAIR_BATCH = 500  # documents per look-up and per repair record
Order = Callable[[Position], tuple[Any, ...]]


def verify(spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]:
    """Per selected collection, the documents whose exact BSON differs, by _id, settled against the
    applier; with `options.repair`, rewritten from the source through the task's change log."""
    changelog = repair_log(options) if options.repair else options.changelog
    source = MongoSource(spec)
    sink = MongoSink(spec)
    destination = connect(spec.destination_endpoint or {}, RAW_CODEC)
    selection = Selection(spec.objects)
    results = []
    try:
        with failures(spec.source_endpoint, "verify against"):
            names = {f"{db}.{name}": (db, name) for db in selection.databases for name in source.collections(db)}
        for full_name in chosen(names, options.tables):
            db, name = names[full_name]
            target_db, target = selection.destination(db, name)
            ends = _Ends(source, destination[target_db][target], spec.destination_endpoint or {}, db, name,
                         filters.parse(selection.filter(db, name)) or {})
            order = _stream_order(ends.stream)
            watch = ApplierWatch(sink.load_checkpoint, changelog, order, source.describe_position)
            report = ObjectReport(full_name, f"{target_db}.{target}", ("_id",))
            mine, read_at = ends.read_source(None)
            progress.object_started(full_name, len(mine))
            report.source_count = len(mine)
            with failures(spec.destination_endpoint or {}, "verify against"):
                exists = target in destination[target_db].list_collection_names()
                theirs = ends.read_destination(None) if exists else None
            progress.advanced(len(mine))
            results.append(report)
            if theirs is None:
                report.destination_count = None
                continue
            report.destination_count = len(theirs)
            suspects = Suspects()
            suspects.add(compare(mine, theirs), mine, read_at, order)
            differences, report.changing = settle(suspects, ends.read_source, ends.read_destination, watch)
            report.record(differences)
            if options.repair and changelog is not None:
                with failures(spec.source_endpoint, "repair from"):
                    _repair(ends, report, changelog, watch, order)
    finally:
        source.close()
        sink.close()
        destination.close()
    return results


def _repair(ends: "_Ends", report: ObjectReport, changelog: Path, watch: ApplierWatch, order: Order) -> None:
    """Rewrite the report's differing documents from the source through the change log, then compare
    those _ids again once the applier wrote them."""
    keys: list[Key] = [*report.missing, *report.extra, *report.different]
    with opened(changelog) as log:
        last_seq, records = append_repairs(log, keys, REPAIR_BATCH, ends.repair_record)
    changes = [change for record in records for change in record.changes]
    report.repaired = {"written": sum(1 for change in changes if change.op == "replace"),
                       "deleted": sum(1 for change in changes if change.op == "delete")}
    check_repaired(report, keys, last_seq, ends.read_source, ends.read_destination, watch, order)


class _Ends:
    """One selected collection at both ends: its documents by _id, whole or for some _ids."""

    def __init__(self, source: MongoSource, destination: Collection, destination_endpoint: dict[str, Any],
                 database: str, collection: str, query: dict[str, Any]) -> None:
        self._source = source
        self._destination_endpoint = destination_endpoint
        self._origin = source.client[database][collection].with_options(codec_options=RAW_CODEC)
        self._destination = destination
        self._database, self._collection = database, collection
        self._query = query
        self.stream = f"{database}.{collection}" if f"{database}.{collection}" in source.stream_keys() else CLUSTER

    def read_source(self, keys: Sequence[Key] | None) -> tuple[dict[Key, Value], Position]:
        """The documents, and the position of the collection's change stream right after reading them
        (every change they show is at or before it)."""
        with failures(self._source.endpoint, "verify against"):
            values = _documents(self._origin, self._query, keys)
            return values, {"streams": {self.stream: self._source.current_token(self.stream)}}

    def read_destination(self, keys: Sequence[Key] | None) -> dict[Key, Value]:
        with failures(self._destination_endpoint, "verify against"):
            return _documents(self._destination, self._query, keys)

    def repair_record(self, keys: Sequence[Key], reader_at: Position) -> Record:
        """The documents of `keys` as the source holds them now (the reader holds still, so after
        `reader_at`): a replacement for each one there, a delete for each _id gone; applied idempotently."""
        present = _documents(self._origin, self._query, keys)
        changes = tuple(
            DocumentChange("replace", self._database, self._collection, id=_ejson_id(key), document=present[key])
            if key in present else DocumentChange("delete", self._database, self._collection, id=_ejson_id(key))
            for key in keys)
        return Record(changes, reader_at, time.time(), replay=True)


def _documents(collection: Collection, query: dict[str, Any], keys: Sequence[Key] | None) -> dict[Key, Value]:
    """(the _id as canonical Extended JSON text,) -> the document packed (its exact BSON): equal only when
    every field, its order and every value's type are. `keys`: only these _ids (None: all)."""
    found: dict[Key, Value] = {}
    batches = [None] if keys is None else [keys[start:start + REPAIR_BATCH] for start in range(0, len(keys), REPAIR_BATCH)]
    for batch in batches:
        wanted = query if batch is None else {"$and": [query, {"_id": {"$in": [_id_of(key) for key in batch]}}]}
        for document in collection.find(wanted):
            found[(json.dumps(to_ejson(document["_id"]), sort_keys=True),)] = pack(document)
    return found


def _ejson_id(key: Key) -> Any:
    return json.loads(key[0])  # type: ignore[index]


def _id_of(key: Key) -> Any:
    return from_ejson(_ejson_id(key))


def _stream_order(stream: str) -> Order:
    """How positions order for one collection: past the copy, by the token of its change stream."""
    def order(position: Position) -> tuple[Any, ...]:
        if not position or position.get("copy") is not None:
            return (0,)
        token = (position.get("streams", {}).get(stream) or {}).get("_data", "")
        return (1, *_token_order(str(token)))
    return order


def _token_order(data: str) -> tuple[Any, ...]:
    """A resume token's place in its stream. MongoDB's `_data` is a hex KeyString, ordered as text
    (case aside). A server that numbers its change log instead (nx-27017's `nx:<row id>`) orders by
    that number: as text, `nx:95` would come after `nx:104`."""
    prefix, colon, number = data.rpartition(":")
    if colon and number.isdigit():
        return (prefix, int(number))
    return (data.upper(),)
