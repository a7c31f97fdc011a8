from __future__ import annotations

import datetime
import decimal
import json

from dtsctl.engine.events import ChangeEvent, SchemaChange, Transaction
from dtsctl.engine.subscription.envelope import decode_row, gap_record, heartbeat_record, transaction_records

T = 1_700_000_000.5


def _event(op, before, after, position, ddl=None):
    return ChangeEvent("shop", "orders", op, before, after, T, position, ddl)


def test_a_transaction_is_begin_rows_commit_sharing_the_begin_seq_as_xid():
    tx = Transaction((_event("insert", None, {"id": 1}, 11),
                      _event("update", {"id": 1, "n": "a"}, {"id": 1, "n": "b"}, 12),
                      _event("delete", {"id": 1, "n": "b"}, None, 13)), position=13, commit_time=T)
    records = transaction_records(tx, first_seq=40)
    assert [(r["seq"], r["op"], r["xid"]) for r in records] == [
        (40, "begin", 40), (41, "insert", 40), (42, "update", 40), (43, "delete", 40), (44, "commit", 40)]
    insert, update, delete = records[1:4]
    assert (insert["object"], insert["before"], insert["after"]) == ("shop.orders", None, {"id": 1})
    assert (update["before"], update["after"]) == ({"id": 1, "n": "a"}, {"id": 1, "n": "b"})
    assert (delete["before"], delete["after"]) == ({"id": 1, "n": "b"}, None)
    assert [r["position"] for r in records] == [11, 11, 12, 13, 13]
    assert records[0]["commit_time"] == "2023-11-14T22:13:20.500000+00:00" and records[0]["commit_ts"] == T
    assert transaction_records(Transaction((), 5, T), 1) == []


def test_every_record_of_a_transaction_carries_its_commit_time():
    """A statement's events are stamped when it began, possibly a second before the commit."""
    earlier = ChangeEvent("shop", "orders", "insert", None, {"id": 1}, T - 1, 11)
    records = transaction_records(Transaction((earlier, _event("insert", None, {"id": 2}, 12)), 12, T), 1)
    assert {r["commit_ts"] for r in records} == {T}


def test_typed_values_are_strings_named_in_types_and_read_back_exactly():
    row = {"amount": decimal.Decimal("12345678901234567890.0100"), "blob": b"\x00\xffx",
           "at": datetime.datetime(2024, 5, 1, 10, 0, 0, 250), "day": datetime.date(2024, 2, 29),
           "took": -datetime.timedelta(hours=838, minutes=59, seconds=59, microseconds=5),
           "tags": {"b", "a"}, "ratio": 0.1, "huge": float("inf"), "n": 7, "s": "x", "none": None, "flag": True}
    [_, record, _] = transaction_records(Transaction((_event("insert", None, row, 1),), 1, T), 1)
    data = json.loads(json.dumps(record))
    assert data["after"]["amount"] == "12345678901234567890.0100"
    tiny = {"d": decimal.Decimal("-0.000000000000000000000000000001"), "z": decimal.Decimal("0E-30")}
    [_, record, _] = transaction_records(Transaction((_event("insert", None, tiny, 1),), 1, T), 1)
    assert record["after"] == {"d": "-0.000000000000000000000000000001", "z": "0." + "0" * 30}  # never "-1E-30"
    assert data["after"]["blob"] == "AP94"
    assert data["after"]["at"] == "2024-05-01T10:00:00.000250"
    assert data["after"]["took"] == "-838:59:59.000005"
    assert data["types"] == {"amount": "decimal", "blob": "bytes", "at": "datetime", "day": "date",
                             "took": "duration", "tags": "set", "huge": "float"}
    assert decode_row(data["after"], data["types"]) == row


def test_ddl_records_carry_the_schema_change():
    change = SchemaChange("alter", body="ADD COLUMN note TEXT", key=("id",), dialect="mysql")
    [_, record, _] = transaction_records(Transaction((_event("ddl", None, None, 7, change),), 7, T), 1)
    assert record["op"] == "ddl" and record["object"] == "shop.orders"
    assert record["ddl"] == {"kind": "alter", "statement": "ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT",
                             "body": "ADD COLUMN note TEXT", "new_table": None, "key": ["id"], "dialect": "mysql"}
    rename = SchemaChange("rename", new_table="old`orders", dialect="mysql")
    [_, record, _] = transaction_records(Transaction((_event("ddl", None, None, 7, rename),), 7, T), 1)
    assert record["ddl"]["statement"] == "RENAME TABLE `shop`.`orders` TO `shop`.`old``orders`"


def test_heartbeat_and_gap_records():
    beat = heartbeat_record(9, T, 42)
    assert (beat["op"], beat["xid"], beat["object"], beat["position"]) == ("heartbeat", None, None, 42)
    gap = gap_record(5, 9, T)
    assert (gap["seq"], gap["op"], gap["gap"]) == (9, "gap", {"from": 5, "to": 9, "records": 5})
