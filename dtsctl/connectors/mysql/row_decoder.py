"""Row images decoded straight from a rows event's bytes, by decoders built once per table map,
into the form the change log stores them in (dtsctl.engine.records): the reader only stores
rows, so it never builds their Decimal and datetime values.

python-mysql-replication decodes every value through its packet wrapper (a method call,
a slice and a `struct.unpack` per field, several per temporal or decimal field). Here a
table map's columns become a plan for the compiled decoder (`_rowimage.c`), which reads a
whole event's rows in one call: integers, floats, text and bytes, DECIMAL, DATETIME,
TIMESTAMP, TIME and DATE in C, the rarer YEAR, ENUM, SET and BIT with the small Python
readers below, which it calls. `records.row` of each image gives exactly the values of
`values.normalise_binlog` applied to the library's decoding
(tests/integration/mysql/test_row_decoder.py checks every type). A table with a column type
or image this module does not decode exactly (JSON, GEOMETRY, the pre-5.6 temporal formats,
a MINIMAL row image, a charset Python does not know) is decoded by the library, as before.
"""

from __future__ import annotations

import codecs
from typing import Any, Callable, Optional, Sequence

from pymysql.charset import charset_by_name
from pymysqlreplication.constants import BINLOG, FIELD_TYPE
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from dtsctl.connectors.mysql import _rowimage
from dtsctl.connectors.mysql.values import normalise_binlog
from dtsctl.engine import records
from dtsctl.engine.events import Row

Reader = Callable[[bytes, int], tuple[Any, int]]
ColumnPlan = tuple[int, int, int, Any]  # one column of a _rowimage.Plan: (kind, size, flag, other)
Images = tuple[Optional[Row], Optional[Row]]  # (before, after)
StoredImages = tuple[Optional[records.Image], Optional[records.Image]]  # the same, as the change log stores them

_INT_BYTES = {FIELD_TYPE.TINY: 1, FIELD_TYPE.SHORT: 2, FIELD_TYPE.INT24: 3, FIELD_TYPE.LONG: 4, FIELD_TYPE.LONGLONG: 8}
_OPS = {"insert": _rowimage.INSERT, "update": _rowimage.UPDATE, "delete": _rowimage.DELETE}


class TableDecoder:
    """Decodes the FULL row images of one table map's rows events."""

    def __init__(self, names: Sequence[str], columns: Sequence[ColumnPlan]) -> None:
        self._plan = _rowimage.Plan(tuple(names), tuple(columns))
        self._all_present = b"\xff" * (len(columns) // 8) + (
            bytes([(1 << (len(columns) % 8)) - 1]) if len(columns) % 8 else b"")

    def rows(self, event: Any) -> list[StoredImages] | None:
        """The event's row images, or None if they are not FULL images of every column."""
        if event.columns_present_bitmap != self._all_present:
            return None
        update = isinstance(event, UpdateRowsEvent)
        if update and event.columns_present_bitmap2 != self._all_present:
            return None
        packet = event.packet
        wrapper_left = event.event_size - packet.read_bytes
        start = packet.packet._position
        op = "update" if update else "insert" if isinstance(event, WriteRowsEvent) else "delete"
        return self.decode(packet.packet._data, start, start + wrapper_left, op)

    def decode(self, data: bytes, pos: int, end: int, op: str) -> list[StoredImages]:
        """The row images in `data[pos:end]`, a rows event's body after its column bitmaps."""
        return self._plan.decode(data, pos, end, _OPS[op])

    def full_image(self, bitmap: bytes) -> bool:
        """True when a rows event's columns-present bitmap names every column (a FULL image)."""
        return bitmap == self._all_present


def build(columns: Sequence[Any]) -> TableDecoder | None:
    """A decoder for a table map's columns, or None if one of them needs the library."""
    plans = []
    for column in columns:
        plan = _plan(column)
        if plan is None or not column.name:
            return None
        plans.append(plan)
    return TableDecoder([column.name for column in columns], plans)


class Decoders:
    """The decoders of the table maps seen so far, each built once."""

    def __init__(self) -> None:
        self._by_table: dict[int, tuple[Any, TableDecoder | None]] = {}

    def of(self, table_id: int, table: Any) -> TableDecoder | None:
        """The decoder of `table` (the library's table map entry for `table_id`), None if it has none."""
        known = self._by_table.get(table_id)
        if known is None or known[0] is not table:
            known = self._by_table[table_id] = (table, build(table.columns))
        return known[1]

    def rows(self, event: Any) -> list[StoredImages]:
        """The row images of a write, update or delete rows event."""
        decoder = self.of(event.table_id, event.table_map[event.table_id])
        if decoder is not None and event.event_type != BINLOG.PARTIAL_UPDATE_ROWS_EVENT and event.complete:
            decoded = decoder.rows(event)
            if decoded is not None:
                return decoded
        return [(records.stored_image(before), records.stored_image(after)) for before, after in library_rows(event)]


def library_rows(event: Any) -> list[Images]:
    """The row images as python-mysql-replication decodes them, normalised."""
    columns = event.columns
    if isinstance(event, WriteRowsEvent):
        return [(None, normalise_binlog(row["values"], columns, row["none_sources"])) for row in event.rows]
    if isinstance(event, DeleteRowsEvent):
        return [(normalise_binlog(row["values"], columns, row["none_sources"]), None) for row in event.rows]
    return [(normalise_binlog(row["before_values"], columns, row["before_none_sources"]),
             normalise_binlog(row["after_values"], columns, row["after_none_sources"])) for row in event.rows]


# -- how each column type is decoded -------------------------------------------------------
def _plan(column: Any) -> ColumnPlan | None:
    kind = column.type
    if kind in _INT_BYTES:
        return (_rowimage.INT, _INT_BYTES[kind], int(bool(column.unsigned)), None)
    if kind == FIELD_TYPE.FLOAT:
        return (_rowimage.FLOAT, 4, 0, None)
    if kind == FIELD_TYPE.DOUBLE:
        return (_rowimage.DOUBLE, 8, 0, None)
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING):
        return _text(column, 2 if column.max_length > 255 else 1)
    if kind == FIELD_TYPE.BLOB:
        return _text(column, column.length_size)
    if kind == FIELD_TYPE.NEWDECIMAL:
        return (_rowimage.DECIMAL, column.precision, column.decimals, None)
    if kind == FIELD_TYPE.DATETIME2:
        return (_rowimage.DATETIME2, column.fsp, 0, None)
    if kind == FIELD_TYPE.TIMESTAMP2:
        return (_rowimage.TIMESTAMP2, column.fsp, 0, None)
    if kind == FIELD_TYPE.TIME2:
        return (_rowimage.TIME2, column.fsp, 0, None)
    if kind == FIELD_TYPE.DATE:
        return (_rowimage.DATE, 0, 0, None)
    reader = _reader(column)
    return None if reader is None else (_rowimage.PYTHON, 0, 0, reader)


def _text(column: Any, size: int) -> ColumnPlan | None:
    """VARCHAR, CHAR, TEXT and BLOB: a length, then the bytes, decoded with the column's charset
    the way the library does (latin1 as cp1252; `binary` stays bytes, CHAR padded again)."""
    charset = column.character_set_name
    if charset == "binary":
        return (_rowimage.BYTES, size, column.max_length if column.type == FIELD_TYPE.STRING else 0, None)
    encoding = "utf-8" if charset is None else _encoding(charset)
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return None
    return (_rowimage.TEXT, size, int(utf8), None if utf8 else encoding)


def _encoding(charset: str) -> str:
    found = charset_by_name(charset)
    return found.encoding if found else charset


# -- the rarer types, read in Python (the compiled decoder calls these) -------------------
def _reader(column: Any) -> Reader | None:
    kind = column.type
    if kind == FIELD_TYPE.YEAR:
        return _year
    if kind == FIELD_TYPE.ENUM:
        return _enum(column.enum_values, column.size)
    if kind == FIELD_TYPE.SET:
        return _set(column.set_values, column.size)
    if kind == FIELD_TYPE.BIT:
        return _bit(column.bytes, column.bits)
    return None  # JSON, GEOMETRY, DATETIME, TIME, TIMESTAMP (pre-5.6 formats): the library's


def _length(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos:pos + size], "little")


def _year(data: bytes, pos: int) -> tuple[int, int]:
    return data[pos] + 1900, pos + 1


def _enum(members: Sequence[str] | None, size: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[str | None, int]:
        return (members[_length(data, pos, size)] if members else None), pos + size
    return read


def _set(members: Sequence[str] | None, size: int) -> Reader:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        mask = _length(data, pos, size)
        return ",".join(member for index, member in enumerate(members or ()) if mask >> index & 1), pos + size
    return read


def _bit(size: int, bits: int) -> Reader:
    mask = (1 << bits) - 1

    def read(data: bytes, pos: int) -> tuple[int, int]:
        return int.from_bytes(data[pos:pos + size], "big") & mask, pos + size
    return read
