"""The change log's binary records (issue 13: a compact change-log record instead of JSON text)."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import marshal
import pickle

import pytest

from dtsctl.engine import records
from dtsctl.engine.events import ChangeEvent, SchemaChange, Transaction, context_key

ZERO, MICROSECOND = datetime.datetime(1, 1, 1), datetime.timedelta(microseconds=1)

TYPED_ROW = {
    "id": 18446744073709551615, "small": -3, "ratio": 0.1 + 0.2, "name": "naïve ☃", "blob": b"\x00\xff",
    "amount": decimal.Decimal("-12345678901234567890.123456789012345678901234567890"),
    "at": datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), "first": datetime.datetime(1, 1, 1),
    "zoned": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), "day": datetime.date(1000, 1, 1),
    "span": datetime.timedelta(days=-1, seconds=41399, microseconds=5), "tags": {"x", "z"},
    "doc": {"a": [1, "two", None]}, "flag": True, "nothing": None, "set_text": "",
}


def _orders_row(row_id: int) -> dict:
    return {"id": row_id, "customer_id": row_id % 1000, "amount": decimal.Decimal("1.50"), "note": "backlog",
            "created": datetime.datetime(2026, 12, 2, 10, 0, 0, 123456)}


def test_every_value_type_comes_back_with_its_value_and_type():
    event = ChangeEvent("shop", "t", "update", {**TYPED_ROW, "id": 1}, TYPED_ROW, 12.5, {"file": "b.1", "pos": 9})
    [back] = Transaction.from_payload(Transaction((event,), 7, 12.5).payload(), 7, 12.5).events
    assert back == event
    assert {name: type(value) for name, value in back.after.items()} == {
        name: type(value) for name, value in TYPED_ROW.items()}


def test_ddl_and_deletes_come_back():
    events = (ChangeEvent("shop", "orders", "ddl", None, None, 1.0, 3,
                          ddl=SchemaChange("rename", new_table="orders2", key=("id",), dialect="mysql")),
              ChangeEvent("shop", "orders2", "delete", {"id": 1}, None, 1.0, 4))
    assert Transaction.from_payload(Transaction(events, 4, 1.0).payload(), 4, 1.0).events == events


def test_records_written_as_json_by_earlier_versions_are_still_read():
    event = ChangeEvent("shop", "t", "insert", None, {"id": 1, "b": b"\x01"}, 2.0, 5)
    earlier = json.dumps([event.to_json()])
    assert Transaction.from_payload(earlier, 5, 2.0).events == (event,)


def test_a_ten_row_transaction_takes_under_60_percent_of_the_bytes_of_json():
    events = tuple(ChangeEvent("bench", "orders", "insert", None, _orders_row(i), 1.0, {"file": "b.1", "pos": i})
                   for i in range(10))
    binary = len(Transaction(events, 1, 1.0).payload())
    text = len(json.dumps([event.to_json() for event in events], separators=(",", ":")).encode())
    assert binary < 0.6 * text, (binary, text)


def test_a_repair_event_stays_a_repair():
    """verify --repair's events are upserts or deletes-if-present: the flag must survive the record."""
    events = (ChangeEvent("shop", "t", "insert", None, {"id": 77, "label": "right"}, 3.0, 8, repair=True),
              ChangeEvent("shop", "t", "delete", {"id": 90001}, None, 3.0, 8, repair=True),
              ChangeEvent("shop", "t", "insert", None, {"id": 5001, "label": "later"}, 3.0, 9))
    back = Transaction.from_payload(Transaction(events, 9, 3.0).payload(), 9, 3.0).events
    assert back == events and [event.repair for event in back] == [True, True, False]


def test_records_of_the_version_without_the_repair_flag_are_still_read():
    event = ChangeEvent("shop", "t", "update", {"id": 1, "at": datetime.datetime(2026, 1, 2)},
                        {"id": 1, "at": datetime.datetime(2026, 1, 3)}, 2.0, {"file": "b.1", "pos": 5})
    written = marshal.dumps((1, [("shop", "t", "update", (("id", "at"), (1, ("dt", (event.before["at"] - ZERO)
                                                                                  // MICROSECOND))),
                                  (("id", "at"), (1, ("dt", (event.after["at"] - ZERO) // MICROSECOND))),
                                  2.0, {"file": "b.1", "pos": 5}, None)]), 4)
    assert Transaction.from_payload(written, 5, 2.0).events == (event,)


def test_a_transaction_s_native_encoding_is_stored_with_its_events():
    """Version 3 carries the source's own encoding of the events beside them (dtsctl.connectors.mysql.
    row_events); consumers that read only the events get the same fields as from version 2."""
    event = ChangeEvent("shop", "orders", "insert", None, _orders_row(1), 1.0, {"file": "b.1", "pos": 9})
    native = (b"\x01format", (b"\x02map", b"\x03rows"))
    payload = Transaction((event,), 7, 1.0, native=native).payload()
    assert marshal.loads(payload)[0] == 3 and b"format" not in payload  # the context is stored once, elsewhere
    back = Transaction.from_payload(payload, 7, 1.0, {context_key(native[0]): native[0]}.get)
    assert back.events == (event,) and back.native == native
    assert Transaction.from_payload(payload, 7, 1.0).native is None  # its context unknown
    plain = Transaction((event,), 7, 1.0).payload()
    assert marshal.loads(plain)[0] == 2 and Transaction.from_payload(plain, 7, 1.0).native is None


def test_a_recorded_event_decodes_its_row_images_only_when_they_are_read():
    """The row-events path (an applier handing the source's own events to a MySQL destination) reads
    each event's table and operation, never its values: decoding them is most of a record's cost."""
    event = ChangeEvent("shop", "orders", "update", _orders_row(1), _orders_row(2), 1.0, {"file": "b.1", "pos": 9})
    [back] = Transaction.from_payload(Transaction((event,), 9, 1.0).payload(), 9, 1.0).events
    assert (back.database, back.table, back.op) == ("shop", "orders", "update")
    assert "before" not in vars(back) and "after" not in vars(back)
    assert back.after == _orders_row(2) and "after" in vars(back) and "before" not in vars(back)
    assert dataclasses.replace(back, table="orders2") == dataclasses.replace(event, table="orders2")
    assert pickle.loads(pickle.dumps(back)) == event
    with pytest.raises(AttributeError):
        back.missing  # noqa: B018 (an unknown attribute is still an error)


def test_a_transaction_of_a_statement_s_stored_images_is_recorded_without_building_events():
    """The binlog reader keeps a statement's rows as record fields: a transaction it only appends to
    the change log never builds an event per row."""
    position = {"file": "b.1", "pos": 9}
    names = tuple(_orders_row(1))  # one tuple for a table's rows, as the row decoder gives them
    images = [((names, records.stored_image(_orders_row(1))[1]), (names, records.stored_image(_orders_row(2))[1])),
              (None, (names, records.stored_image(_orders_row(3))[1]))]
    fields = records.statement_fields("shop", "orders", "update", images, 1.0, position)
    tx = Transaction.recorded(fields, 9, 1.0, keys=(b"k",))
    assert tx.change_count() == 2
    payload = tx.payload()
    assert "events" not in vars(tx)
    expected = (ChangeEvent("shop", "orders", "update", _orders_row(1), _orders_row(2), 1.0, position),
                ChangeEvent("shop", "orders", "update", None, _orders_row(3), 1.0, position))
    assert Transaction.from_payload(payload, 9, 1.0).events == expected
    assert len(payload) <= len(Transaction(expected, 9, 1.0).payload())  # column names written once
    assert tx.events == expected and tx.keys == (b"k",) and tx.change_count() == 2


def test_a_recorded_transaction_builds_its_events_only_when_they_are_read():
    """The applier of a MySQL destination checks a batch from its transactions' summaries and hands
    the source's row events on: building an event per row was a fifth of its reading thread."""
    position = {"file": "b.1", "pos": 9}
    events = (ChangeEvent("shop", "orders", "insert", None, _orders_row(1), 1.0, position),
              ChangeEvent("shop", "orders", "update", _orders_row(1), _orders_row(2), 1.0, position),
              ChangeEvent("shop", "items", "delete", {"id": 4, "sku": "x"}, None, 1.0, {"file": "b.1", "pos": 30}))
    original = Transaction(events, 9, 1.0)
    back = Transaction.from_payload(original.payload(), 9, 1.0)
    summary = back.summary()
    assert "events" not in vars(back)
    assert (summary.count, summary.has_ddl, summary.has_repair) == (3, False, False)
    assert summary.tables[("shop", "orders")].ops == {"insert", "update"}
    assert summary.tables[("shop", "orders")].columns == tuple(_orders_row(1))
    assert summary.tables[("shop", "items")].first_position == {"file": "b.1", "pos": 30}
    assert summary == original.summary()  # a transaction built from events summarizes the same
    assert back.events == events and "events" in vars(back)
    assert back.summary() is summary
    assert Transaction.from_payload(original.payload(), 9, 1.0) == original
    assert pickle.loads(pickle.dumps(Transaction.from_payload(original.payload(), 9, 1.0))) == original
    assert dataclasses.replace(Transaction.from_payload(original.payload(), 9, 1.0), commit_time=2.0).events == events
    with pytest.raises(AttributeError):
        back.missing  # noqa: B018 (an unknown attribute is still an error)


def test_a_summary_sees_ddl_and_repairs():
    ddl = ChangeEvent("shop", "orders", "ddl", None, None, 1.0, 5, ddl=SchemaChange("drop"))
    repair = ChangeEvent("shop", "orders", "insert", None, {"id": 1}, 1.0, 5, repair=True)
    for tx in (Transaction((ddl,), 5, 1.0), Transaction((repair,), 5, 1.0)):
        for read in (tx, Transaction.from_payload(tx.payload(), 5, 1.0)):
            summary = read.summary()
            assert (summary.has_ddl, summary.has_repair) == (tx.events[0].op == "ddl", tx.events[0].repair)
