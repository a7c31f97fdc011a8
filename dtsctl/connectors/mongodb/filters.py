"""A collection's `filter`: a MongoDB query document (Extended JSON text), for the copy and the stream."""

from __future__ import annotations

from typing import Any

from bson import json_util
from bson.errors import InvalidBSON

_LOGICAL = ("$and", "$or", "$nor")


def parse(text: str | None) -> dict[str, Any] | None:
    """The query document, or None without a filter; ValueError saying what is wrong."""
    if not text:
        return None
    try:
        query = json_util.loads(text)
    except (ValueError, InvalidBSON) as exc:
        raise ValueError(f"not a JSON query document ({exc})") from None
    if not isinstance(query, dict):
        raise ValueError("not a query document: write it as a JSON object, e.g. '{\"status\": \"paid\"}'")
    if "$where" in query or "$expr" in query:
        raise ValueError("$where and $expr cannot be applied to change events; use field conditions")
    return query


def on_full_document(query: dict[str, Any]) -> dict[str, Any]:
    """The same conditions on a change event's `fullDocument` (for a `$match` stage)."""
    result: dict[str, Any] = {}
    for key, value in query.items():
        if key in _LOGICAL:
            result[key] = [on_full_document(item) for item in value]
        elif key.startswith("$"):
            result[key] = value
        else:
            result[f"fullDocument.{key}"] = value
    return result
