"""A collection's schema as MongoDB has it: its options (capped, collation, validator, ...) and indexes."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.database import Database
from pymongo.errors import OperationFailure

from dtsctl.connectors.mongodb.codec import from_ejson, to_ejson

NAMESPACE_EXISTS = 48
_NOT_INDEX_OPTIONS = {"v", "key", "ns"}


def read(db: Database, collection: str) -> dict[str, Any]:
    """{"options": ..., "indexes": [...]} in Extended JSON; the _id index is implied."""
    info = next(db.list_collections(filter={"name": collection}), None) or {}
    indexes = [index for index in db[collection].list_indexes() if index.get("name") != "_id_"]
    return {"options": to_ejson(info.get("options") or {}), "indexes": to_ejson(indexes)}


def create(db: Database, collection: str, schema: dict[str, Any]) -> None:
    """Create the collection with its options unless it exists, then its indexes (existing ones stay)."""
    options = from_ejson(schema.get("options") or {})
    if collection not in db.list_collection_names(filter={"name": collection}):
        try:
            db.create_collection(collection, **options)
        except OperationFailure as exc:
            if exc.code != NAMESPACE_EXISTS:
                raise
    create_indexes(db, collection, schema.get("indexes") or [])


def create_indexes(db: Database, collection: str, indexes: list[dict[str, Any]]) -> None:
    models = []
    for index in from_ejson(indexes):
        keys = list(index["key"].items())
        options = {name: value for name, value in index.items() if name not in _NOT_INDEX_OPTIONS}
        models.append(IndexModel(keys, **options))
    if models:
        db[collection].create_indexes(models)
