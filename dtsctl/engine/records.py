"""The change log's binary record of a transaction's events: compact and cheap to write and read.

A record is one `marshal` document (C speed; plain data only, so reading one never runs code):

    (RECORD_VERSION, [(database, table, op, before, after, commit_time, position, ddl, repair), ...])

with each row image as (column names, values). Identical names (a table's columns, its
database and table) are one object per record, which marshal writes once and refers back to,
so a row costs about its values. Values marshal has no type for travel as a tagged tuple
(a column value is never a tuple): (tag, text or number).

A record of a transaction that also carries its source's own encoding of the events
(`Transaction.native`, opaque here) is (NATIVE_VERSION, events, native); the events are the same.
When the source's connector can decode that encoding again (`register_native_decoder`), the
record is (OUTLINE_VERSION, (kind, outline), native): the events' values are only in `native`,
written and read as bytes. The connector registered for `kind` turns the outline into `Group`s
without decoding a value (what an applier checks before handing `native` to a destination that
applies it itself) and, only when the events are used, the outline and the native body back
into the same fields.

Records written as JSON text by earlier versions are still read (dtsctl.engine.events, which
turns the fields into `ChangeEvent`s).
"""

from __future__ import annotations

import datetime
import decimal
import marshal
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple

Row = dict[str, Any]
Fields = tuple[str, str, str, Row | None, Row | None, float, Any, dict[str, Any] | None, bool]

RECORD_VERSION = 2
NATIVE_VERSION = 3  # RECORD_VERSION's events and the source's own encoding of them
OUTLINE_VERSION = 4  # the events as an outline of the source's own encoding, and that encoding
_WITHOUT_REPAIR = 1  # the same record without the repair flag (verify --repair's events lost it)
_MARSHAL_VERSION = 4  # refers back to objects already written
_ZERO = datetime.datetime(1, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
_PLAIN = frozenset({int, str, bytes, float, type(None), bool, dict, list, set, frozenset})



class Group(NamedTuple):
    """Consecutive events of one table and operation (a source statement's rows)."""

    database: str
    table: str
    op: str
    position: Any  # the first event's
    events: int
    columns: tuple[str, ...]  # the rows' columns, in the table's order


@dataclass(frozen=True)
class NativeDecoder:
    """A connector's reading of its outlines: `groups(outline)`, and `fields(outline, native body)`."""

    groups: Callable[[Any], list[Group]]
    fields: Callable[[Any, Any], list[Fields]]


_NATIVE_DECODERS: dict[str, NativeDecoder] = {}


def register_native_decoder(kind: str, decoder: NativeDecoder) -> None:
    """Make records whose events are an outline of `kind` readable (see the module's docstring)."""
    _NATIVE_DECODERS[kind] = decoder


class Outlined(NamedTuple):
    """An outline record read: its groups, and its fields when asked."""

    groups: list[Group]
    fields: Callable[[], list[Fields]]


def encode_events(events: Iterable[Any], native: Any = None, outline: tuple[str, Any] | None = None) -> bytes:
    """The record of `events` (dtsctl.engine.events.ChangeEvent) and their `native` encoding (plain
    data, None when there is none); with an `outline` (kind, plain data) of them in `native`, the
    events themselves are not written."""
    if outline is not None and native is not None:
        return marshal.dumps((OUTLINE_VERSION, outline, native), _MARSHAL_VERSION)
    shared: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        return shared.setdefault(value, value)

    def image(row: Row | None) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
        if row is None:
            return None
        return one(tuple(row)), tuple(value if type(value) in _PLAIN else _marshallable(value) for value in row.values())

    fields = [
        (one(event.database), one(event.table), event.op, image(event.before), image(event.after),
         event.commit_time, event.position, None if event.ddl is None else event.ddl.to_json(),
         event.repair)
        for event in events]
    record = (RECORD_VERSION, fields) if native is None else (NATIVE_VERSION, fields, native)
    return marshal.dumps(record, _MARSHAL_VERSION)


def decode_events(record: bytes) -> list[Fields]:
    """Each event's fields, in ChangeEvent's order (its DDL as SchemaChange.to_json)."""
    return decode_record(record)[0]


def decode_record(record: bytes) -> tuple[list[Fields], Any]:
    """`decode_events` and the events' native encoding (None when the record has none)."""
    events, native = read_record(record)
    return (events.fields() if isinstance(events, Outlined) else events), native


def read_record(record: bytes) -> tuple[list[Fields] | Outlined, Any]:
    """`decode_record`, with an outline record's events left `Outlined`."""
    version, events, *rest = marshal.loads(record)
    if version == OUTLINE_VERSION:
        (kind, outline), native = events, rest[0]
        decoder = _NATIVE_DECODERS.get(kind)
        if decoder is None:
            raise ValueError(f"change-log records of {kind} are read by its connector, which is not loaded")
        return Outlined(decoder.groups(outline), lambda: decoder.fields(outline, native[1])), native
    if version in (RECORD_VERSION, NATIVE_VERSION):
        return [(database, table, op, _row(before), _row(after), commit_time, position, ddl, repair)
                for database, table, op, before, after, commit_time, position, ddl, repair in events], \
            (rest[0] if rest else None)
    if version == _WITHOUT_REPAIR:
        return [(database, table, op, _row(before), _row(after), commit_time, position, ddl, False)
                for database, table, op, before, after, commit_time, position, ddl in events], None
    raise ValueError(f"change-log record version {version} is not one this dtsctl reads")


def _row(image: tuple[tuple[str, ...], tuple[Any, ...]] | None) -> Row | None:
    if image is None:
        return None
    names, values = image
    if tuple in map(type, values):  # a tagged value (C loops, no generator: this runs for every row)
        untag = _UNTAG
        values = [untag[value[0]](value[1]) if type(value) is tuple else value for value in values]
    return dict(zip(names, values))


def _marshallable(value: Any) -> Any:
    """A value marshal has no type for, as a tagged tuple; a subclass of a plain type as that type."""
    if isinstance(value, decimal.Decimal):
        return ("d", str(value))
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return ("dtz", value.isoformat())
        return ("dt", (value - _ZERO) // _MICROSECOND)  # 8 bytes where the text takes 26
    if isinstance(value, datetime.date):
        return ("date", value.isoformat())
    if isinstance(value, datetime.timedelta):
        return ("td", (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds)
    if isinstance(value, datetime.time):
        return ("time", value.isoformat())
    if isinstance(value, (bytearray, memoryview)):
        return ("b", bytes(value))
    for plain in (bool, int, float, str, bytes):
        if isinstance(value, plain):
            return plain(value)
    raise TypeError(f"a column value of type {type(value).__name__} cannot be stored in the change log")


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "d": decimal.Decimal,
    "dt": lambda micros: _ZERO + datetime.timedelta(microseconds=micros),
    "dtz": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "td": lambda micros: datetime.timedelta(microseconds=micros),
    "time": datetime.time.fromisoformat,
    "b": bytes,
}
