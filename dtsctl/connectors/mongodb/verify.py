"""verify for MongoDB: per selected collection, the counts and a checksum of the documents in _id order."""

from __future__ import annotations

import hashlib
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection

from dtsctl.connectors.mongodb import filters
from dtsctl.connectors.mongodb.client import connect, failures
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.pipeline import TableComparison
from dtsctl.engine.task import TaskSpec


def verify(spec: TaskSpec) -> list[TableComparison]:
    source = MongoSource(spec)
    destination = connect(spec.destination_endpoint or {})
    selection = Selection(spec.objects)
    results = []
    try:
        with failures(spec.source_endpoint, "verify"):
            for db in selection.databases:
                for name in source.collections(db):
                    target_db, target = selection.destination(db, name)
                    query = filters.parse(selection.filter(db, name)) or {}
                    count, digest = checksum(source.client[db][name], query)
                    exists = target in destination[target_db].list_collection_names()
                    other_count, other_digest = checksum(destination[target_db][target], query) if exists else (0, "")
                    results.append(TableComparison(f"{db}.{name}", f"{target_db}.{target}", count,
                                                   other_count if exists else None, digest == other_digest))
    finally:
        source.close()
        destination.close()
    return results


def checksum(collection: Collection, query: dict[str, Any]) -> tuple[int, str]:
    """(documents, SHA-256 of their exact BSON in _id order): equal only when every document,
    its field order and every value's type are equal."""
    digest, count = hashlib.sha256(), 0
    raw = collection.with_options(codec_options=collection.codec_options.with_options(document_class=RawBSONDocument))
    for document in raw.find(query).sort("_id", 1):
        digest.update(document.raw)
        count += 1
    return count, digest.hexdigest()
