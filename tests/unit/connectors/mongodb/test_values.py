"""Exact BSON round trip through the change log's form, filters on change events, and _id ranges of any type."""

from __future__ import annotations

import datetime
import re
import uuid

import bson
from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

from dtsctl.connectors.mongodb.codec import pack, to_ejson, unpack
from dtsctl.connectors.mongodb.filters import on_full_document, parse
from dtsctl.connectors.mongodb.source import after_id, type_alias
from dtsctl.engine.documents.changes import DocumentChange, Record

EVERY_TYPE = {
    "_id": ObjectId("65f0c0ffee00000000000001"),
    "int32": 7, "int64": Int64(7), "double": 7.0, "decimal": Decimal128("1.10"),
    "date": datetime.datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=datetime.timezone.utc),
    "binary": Binary(b"\x00\xff", 0), "uuid": Binary(uuid.UUID(int=1).bytes, 4), "user_binary": Binary(b"x", 128),
    "nested": {"list": [1, Int64(2), {"deep": [None, True, "s"]}]},
    "timestamp": Timestamp(1700000000, 3), "regex": Regex("^a", "i"), "code": Code("f()"),
    "min": MinKey(), "max": MaxKey(), "nan": float("nan"), "negative_zero": -0.0,
}


def test_every_bson_type_round_trips_byte_for_byte_through_a_change_log_record():
    change = DocumentChange("insert", "db", "c", id=to_ejson(EVERY_TYPE["_id"]), document=pack(EVERY_TYPE))
    stored = Record((change,), {"streams": {}}, 1.0).payload()
    back = Record.from_payload(stored, {"streams": {}}, 1.0).changes[0]
    assert unpack(back.document).raw == bson.encode(EVERY_TYPE, codec_options=bson.CodecOptions(tz_aware=True))


def test_filter_is_applied_to_the_full_document_of_change_events():
    query = parse('{"status": "paid", "$or": [{"total": {"$gt": 10}}, {"vip": true}], "$comment": "x"}')
    assert on_full_document(query) == {"fullDocument.status": "paid", "$comment": "x",
                                       "$or": [{"fullDocument.total": {"$gt": 10}}, {"fullDocument.vip": True}]}


def test_a_filter_that_cannot_apply_to_change_events_is_refused_in_words():
    for text, words in (("[1]", "query document"), ("{nope", "not a JSON query document"),
                        ('{"$where": "1"}', "$where and $expr")):
        try:
            parse(text)
        except ValueError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(f"{text} accepted")


def test_an_id_range_continues_with_every_type_that_sorts_later():
    """`$gt` only matches values of its own type (the manual, Comparison/Sort Order): the next range
    also takes every later type, so a collection with mixed _id types is copied whole."""
    assert after_id("m") == {"$or": [{"_id": {"$gt": "m"}}, *({"_id": {"$type": alias}} for alias in (
        "object", "binData", "objectId", "bool", "date", "timestamp", "regex", "maxKey"))]}
    assert [type_alias(value) for value in (None, 1, Int64(1), 1.5, Decimal128("1"), "s", {"a": 1}, b"b",
                                            ObjectId(), True, datetime.datetime.now(), Timestamp(1, 1),
                                            re.compile("x"), MinKey(), MaxKey())] == [
        "null", "number", "number", "number", "number", "string", "object", "binData", "objectId", "bool", "date",
        "timestamp", "regex", "minKey", "maxKey"]
