"""verify for MongoDB: per selected collection, the documents that differ by _id (exact BSON)."""

from __future__ import annotations

from typing import Any

from bson import json_util
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection

from dtsctl.connectors.mongodb import filters
from dtsctl.connectors.mongodb.client import connect, failures
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.verification import ObjectReport, VerifyOptions, VerifyProgress, chosen, compare
from dtsctl.errors import DtsError
from dtsctl.engine.task import TaskSpec


def verify(spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]:
    """Per selected collection, the documents whose exact BSON differs, by _id. Whole collections
    are read (not yet in chunks settled against the applier, as tables and Redis keys are)."""
    if options.repair:
        raise DtsError("--repair is not available for MongoDB destinations yet; verify shows what differs")
    source = MongoSource(spec)
    destination = connect(spec.destination_endpoint or {})
    selection = Selection(spec.objects)
    results = []
    try:
        with failures(spec.source_endpoint, "verify against"):
            names = {f"{db}.{name}": (db, name) for db in selection.databases for name in source.collections(db)}
        for full_name in chosen(names, options.tables):
            db, name = names[full_name]
            target_db, target = selection.destination(db, name)
            report = ObjectReport(full_name, f"{target_db}.{target}", ("_id",))
            query = filters.parse(selection.filter(db, name)) or {}
            with failures(spec.source_endpoint, "verify against"):
                mine = documents(source.client[db][name], query)
            progress.object_started(full_name, len(mine))
            report.source_count = len(mine)
            with failures(spec.destination_endpoint or {}, "verify against"):
                theirs = (documents(destination[target_db][target], query)
                          if target in destination[target_db].list_collection_names() else None)
            if theirs is None:
                report.destination_count = None
            else:
                report.destination_count = len(theirs)
                report.record(compare(mine, theirs))
            progress.advanced(len(mine))
            results.append(report)
    finally:
        source.close()
        destination.close()
    return results


def documents(collection: Collection, query: dict[str, Any]) -> dict[tuple[str], bytes]:
    """(the _id as Extended JSON,) -> the document's exact BSON: equal only when every field, its order
    and every value's type are."""
    raw = collection.with_options(codec_options=collection.codec_options.with_options(document_class=RawBSONDocument))
    return {(json_util.dumps(document["_id"]),): document.raw for document in raw.find(query)}
