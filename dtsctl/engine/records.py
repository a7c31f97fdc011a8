"""The change log's binary record of a transaction's events: compact and cheap to write and read.

A record is one `marshal` document (C speed; plain data only, so reading one never runs code):

    (RECORD_VERSION, [(database, table, op, before, after, commit_time, position, ddl, repair), ...])

with each row image as (column names, values). Identical names (a table's columns, its
database and table) are one object per record, which marshal writes once and refers back to,
so a row costs about its values. Values marshal has no type for travel as a tagged tuple
(a column value is never a tuple): (tag, text or number).

A record of a transaction that also carries its source's own encoding of the events
(`Transaction.native`, opaque here) is (NATIVE_VERSION, events, native); the events are the same.

Records written as JSON text by earlier versions are still read (dtsctl.engine.events, which
turns the fields into `ChangeEvent`s).
"""

from __future__ import annotations

import datetime
import decimal
import marshal
from typing import Any, Callable, Iterable

Row = dict[str, Any]
Image = tuple[tuple[str, ...], tuple[Any, ...]]  # a row image as stored: (column names, values, some tagged)
Fields = tuple[str, str, str, Image | None, Image | None, float, Any, dict[str, Any] | None, bool]

RECORD_VERSION = 2
NATIVE_VERSION = 3  # RECORD_VERSION's events and the source's own encoding of them
_WITHOUT_REPAIR = 1  # the same record without the repair flag (verify --repair's events lost it)
_MARSHAL_VERSION = 4  # refers back to objects already written
_ZERO = datetime.datetime(1, 1, 1)
_MICROSECOND = datetime.timedelta(microseconds=1)
_PLAIN = frozenset({int, str, bytes, float, type(None), bool, dict, list, set, frozenset})
# Where a ChangeEvent holds a row image still in stored form (dtsctl.engine.events, `from_record_fields`)
STORED_IMAGES = {"before": "_stored_before", "after": "_stored_after"}
_ABSENT = object()


def encode_events(events: Iterable[Any], native: Any = None) -> bytes:
    """The record of `events` (dtsctl.engine.events.ChangeEvent) and their `native` encoding (plain
    data, None when there is none). An event whose row images are still in stored form (read
    from a record, or decoded so by its source) is written without decoding them."""
    shared: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        return shared.setdefault(value, value)

    def image(held: dict[str, Any], name: str) -> Image | None:
        stored = held.get(STORED_IMAGES[name], _ABSENT)
        if stored is _ABSENT:
            stored = stored_image(held[name])
        if stored is None:
            return None
        names = one(stored[0])  # the first equal tuple of names stands for all (marshal writes it once)
        return stored if names is stored[0] else (names, stored[1])

    return encode_fields([
        (one(event.database), one(event.table), event.op, image(event.__dict__, "before"),
         image(event.__dict__, "after"), event.commit_time, event.position,
         None if event.ddl is None else event.ddl.to_json(), event.repair)
        for event in events], native)


def encode_fields(fields: list[Fields], native: Any = None) -> bytes:
    """The record of events given as their fields (`decode_record`'s form). Marshal writes an
    object that recurs (a table's column names, a statement's position) once and refers back to it."""
    record = (RECORD_VERSION, fields) if native is None else (NATIVE_VERSION, fields, native)
    return marshal.dumps(record, _MARSHAL_VERSION)


def statement_fields(database: str, table: str, op: str, images: Iterable[tuple[Image | None, Image | None]],
                     commit_time: float, position: Any) -> list[Fields]:
    """The fields of one statement's row changes, each (before, after) as stored: what a source
    whose rows arrive decoded so (the MySQL binlog reader) keeps instead of building events."""
    return [(database, table, op, before, after, commit_time, position, None, False) for before, after in images]


def ddl_fields(database: str, table: str, ddl: dict[str, Any], commit_time: float, position: Any) -> Fields:
    """The fields of a DDL event (`ddl`: its SchemaChange.to_json), for the same sources."""
    return (database, table, "ddl", None, None, commit_time, position, ddl, False)


def decode_record(record: bytes) -> tuple[list[Fields], Any]:
    """Each event's fields, in ChangeEvent's order (its DDL as SchemaChange.to_json, its row images
    as stored: `row` decodes one), and the events' native encoding (None when the record has none).

    Row images are left for the caller to decode when it uses them: an applier that hands the
    native encoding to its destination never does, and decoding them is most of a record's cost."""
    version, events, *rest = marshal.loads(record)
    if version in (RECORD_VERSION, NATIVE_VERSION):
        return events, (rest[0] if rest else None)
    if version == _WITHOUT_REPAIR:
        return [(*fields, False) for fields in events], None
    raise ValueError(f"change-log record version {version} is not one this dtsctl reads")


def stored_image(row: Row | None) -> Image | None:
    """A row image as a record stores it; `row` reads it back."""
    if row is None:
        return None
    return tuple(row), tuple(value if type(value) in _PLAIN else _marshallable(value) for value in row.values())


def row(image: Image | None) -> Row | None:
    """The row of a stored image (`decode_record`)."""
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
