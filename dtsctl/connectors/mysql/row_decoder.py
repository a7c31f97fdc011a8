"""Row images decoded straight from a rows event's bytes, by decoders built once per table map.

python-mysql-replication decodes every value through its packet wrapper (a method call,
a slice and a `struct.unpack` per field, several per temporal or decimal field). Here a
table map's columns become a tuple of small readers, each taking the event body and an
offset, so a row costs one call per column. The values are exactly those of
`values.normalise_binlog` applied to the library's decoding (tests/unit/connectors/
test_row_decoder.py checks every type). A table with a column type or image this module
does not decode exactly (JSON, GEOMETRY, the pre-5.6 temporal formats, a MINIMAL row
image, a charset Python does not know) is decoded by the library, as before.
"""

from __future__ import annotations

import codecs
import datetime
import decimal
import struct
from typing import Any, Callable, Optional, Sequence

from pymysql.charset import charset_by_name
from pymysqlreplication.constants import BINLOG, FIELD_TYPE
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from dtsctl.connectors.mysql.values import normalise_binlog
from dtsctl.engine.events import Row

Reader = Callable[[bytes, int], tuple[Any, int]]
Images = tuple[Optional[Row], Optional[Row]]  # (before, after)

_EPOCH = datetime.datetime(1970, 1, 1)
_DECIMAL_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)  # bytes of a group of 0..9 leftover digits
_INTS = {  # (type, unsigned) -> struct format
    (FIELD_TYPE.TINY, False): "<b", (FIELD_TYPE.TINY, True): "<B",
    (FIELD_TYPE.SHORT, False): "<h", (FIELD_TYPE.SHORT, True): "<H",
    (FIELD_TYPE.LONG, False): "<i", (FIELD_TYPE.LONG, True): "<I",
    (FIELD_TYPE.LONGLONG, False): "<q", (FIELD_TYPE.LONGLONG, True): "<Q",
    (FIELD_TYPE.FLOAT, False): "<f", (FIELD_TYPE.FLOAT, True): "<f",
    (FIELD_TYPE.DOUBLE, False): "<d", (FIELD_TYPE.DOUBLE, True): "<d",
}


class TableDecoder:
    """Decodes the FULL row images of one table map's rows events."""

    def __init__(self, names: Sequence[str], readers: Sequence[Reader]) -> None:
        self._columns = tuple(zip(names, readers))
        self._bitmap_bytes = (len(readers) + 7) // 8
        self._all_present = b"\xff" * (len(readers) // 8) + (
            bytes([(1 << (len(readers) % 8)) - 1]) if len(readers) % 8 else b"")

    def rows(self, event: Any) -> list[Images] | None:
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

    def decode(self, data: bytes, pos: int, end: int, op: str) -> list[Images]:
        """The row images in `data[pos:end]`, a rows event's body after its column bitmaps."""
        image = self._image
        out: list[Images] = []
        while pos < end:
            first, pos = image(data, pos)
            if op == "update":
                second, pos = image(data, pos)
                out.append((first, second))
            elif op == "insert":
                out.append((None, first))
            else:
                out.append((first, None))
        return out

    def full_image(self, bitmap: bytes) -> bool:
        """True when a rows event's columns-present bitmap names every column (a FULL image)."""
        return bitmap == self._all_present

    def _image(self, data: bytes, pos: int) -> tuple[Row, int]:
        nulls = int.from_bytes(data[pos:pos + self._bitmap_bytes], "little")
        pos += self._bitmap_bytes
        row: Row = {}
        bit = 1
        for name, reader in self._columns:
            if nulls & bit:
                row[name] = None
            else:
                row[name], pos = reader(data, pos)
            bit <<= 1
        return row, pos


def build(columns: Sequence[Any]) -> TableDecoder | None:
    """A decoder for a table map's columns, or None if one of them needs the library."""
    readers = []
    for column in columns:
        reader = _reader(column)
        if reader is None or not column.name:
            return None
        readers.append(reader)
    return TableDecoder([column.name for column in columns], readers)


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

    def rows(self, event: Any) -> list[Images]:
        """The row images of a write, update or delete rows event."""
        decoder = self.of(event.table_id, event.table_map[event.table_id])
        if decoder is not None and event.event_type != BINLOG.PARTIAL_UPDATE_ROWS_EVENT and event.complete:
            decoded = decoder.rows(event)
            if decoded is not None:
                return decoded
        return library_rows(event)


def library_rows(event: Any) -> list[Images]:
    """The row images as python-mysql-replication decodes them, normalised."""
    columns = event.columns
    if isinstance(event, WriteRowsEvent):
        return [(None, normalise_binlog(row["values"], columns, row["none_sources"])) for row in event.rows]
    if isinstance(event, DeleteRowsEvent):
        return [(normalise_binlog(row["values"], columns, row["none_sources"]), None) for row in event.rows]
    return [(normalise_binlog(row["before_values"], columns, row["before_none_sources"]),
             normalise_binlog(row["after_values"], columns, row["after_none_sources"])) for row in event.rows]


# -- one reader per column type ----------------------------------------------------------
def _reader(column: Any) -> Reader | None:
    kind = column.type
    if (kind, bool(column.unsigned)) in _INTS:
        return _fixed(struct.Struct(_INTS[(kind, bool(column.unsigned))]))
    if kind == FIELD_TYPE.INT24:
        return _int24(bool(column.unsigned))
    if kind in (FIELD_TYPE.VARCHAR, FIELD_TYPE.STRING):
        return _text(column, 2 if column.max_length > 255 else 1)
    if kind == FIELD_TYPE.BLOB:
        return _text(column, column.length_size)
    if kind == FIELD_TYPE.NEWDECIMAL:
        return _decimal(column.precision, column.decimals)
    if kind == FIELD_TYPE.DATETIME2:
        return _datetime2(column.fsp)
    if kind == FIELD_TYPE.TIMESTAMP2:
        return _timestamp2(column.fsp)
    if kind == FIELD_TYPE.TIME2:
        return _time2(column.fsp)
    if kind == FIELD_TYPE.DATE:
        return _date
    if kind == FIELD_TYPE.YEAR:
        return _year
    if kind == FIELD_TYPE.ENUM:
        return _enum(column.enum_values, column.size)
    if kind == FIELD_TYPE.SET:
        return _set(column.set_values, column.size)
    if kind == FIELD_TYPE.BIT:
        return _bit(column.bytes, column.bits)
    return None  # JSON, GEOMETRY, DATETIME, TIME, TIMESTAMP (pre-5.6 formats): the library's


def _fixed(form: struct.Struct) -> Reader:
    unpack, size = form.unpack_from, form.size

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        return unpack(data, pos)[0], pos + size
    return read


def _int24(unsigned: bool) -> Reader:
    def read(data: bytes, pos: int) -> tuple[int, int]:
        return int.from_bytes(data[pos:pos + 3], "little", signed=not unsigned), pos + 3
    return read


def _length(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos:pos + size], "little")


def _text(column: Any, size: int) -> Reader | None:
    """VARCHAR, CHAR, TEXT and BLOB: a length, then the bytes, decoded with the column's charset
    the way the library does (latin1 as cp1252; `binary` stays bytes, CHAR padded again)."""
    charset = column.character_set_name
    if charset == "binary":
        pad = column.max_length if column.type == FIELD_TYPE.STRING else 0

        def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
            end = pos + size + _length(data, pos, size)
            return data[pos + size:end].ljust(pad, b"\x00"), end
        return read_bytes
    encoding = "utf-8" if charset is None else _encoding(charset)
    try:
        codecs.lookup(encoding)
    except LookupError:
        return None

    def read_text(data: bytes, pos: int) -> tuple[str, int]:
        end = pos + size + _length(data, pos, size)
        return data[pos + size:end].decode(encoding), end
    return read_text


def _encoding(charset: str) -> str:
    found = charset_by_name(charset)
    return found.encoding if found else charset


def _decimal(precision: int, scale: int) -> Reader:
    """MySQL's packed DECIMAL: groups of 9 digits in 4 big-endian bytes, leftover digits in fewer,
    the sign in the top bit of the first byte, negative values stored inverted."""
    integral = precision - scale
    whole_int, left_int = divmod(integral, 9)
    whole_frac, left_frac = divmod(scale, 9)
    head, tail = _DECIMAL_BYTES[left_int], _DECIMAL_BYTES[left_frac]
    total = head + 4 * (whole_int + whole_frac) + tail

    def read(data: bytes, pos: int) -> tuple[decimal.Decimal, int]:
        raw = bytearray(data[pos:pos + total])
        negative = not raw[0] & 0x80
        raw[0] ^= 0x80
        if negative:
            raw = bytearray(b ^ 0xFF for b in raw)
        at = 0
        text = ["-"] if negative else []
        if head:
            text.append(str(int.from_bytes(raw[:head], "big")))
            at = head
        for _ in range(whole_int):
            text.append(f"{int.from_bytes(raw[at:at + 4], 'big'):09d}")
            at += 4
        text.append(".")
        for _ in range(whole_frac):
            text.append(f"{int.from_bytes(raw[at:at + 4], 'big'):09d}")
            at += 4
        if tail:
            text.append(f"{int.from_bytes(raw[at:at + tail], 'big'):0{left_frac}d}")
        return decimal.Decimal("".join(text)), pos + total
    return read


def _fsp_bytes(fsp: int) -> int:
    return (fsp + 1) // 2


def _fraction(data: bytes, pos: int, fsp: int, size: int) -> int:
    """Microseconds from a temporal value's fractional bytes (signed, as the library reads them)."""
    if not size:
        return 0
    value = int.from_bytes(data[pos:pos + size], "big", signed=True)
    if fsp % 2:
        value = int(value / 10)
    return value * 10 ** (6 - fsp)


def _datetime2(fsp: int) -> Reader:
    frac = _fsp_bytes(fsp)

    def read(data: bytes, pos: int) -> tuple[datetime.datetime | None, int]:
        packed = int.from_bytes(data[pos:pos + 5], "big")
        year_month = (packed >> 22) & 0x1FFFF
        try:
            value = datetime.datetime(year_month // 13, year_month % 13, (packed >> 17) & 0x1F,
                                      (packed >> 12) & 0x1F, (packed >> 6) & 0x3F, packed & 0x3F)
        except ValueError:  # a zero date: the library gives None
            return None, pos + 5 + frac
        micro = _fraction(data, pos + 5, fsp, frac)
        return (value.replace(microsecond=micro) if micro > 0 else value), pos + 5 + frac
    return read


def _timestamp2(fsp: int) -> Reader:
    frac = _fsp_bytes(fsp)

    def read(data: bytes, pos: int) -> tuple[datetime.datetime, int]:
        value = _EPOCH + datetime.timedelta(seconds=int.from_bytes(data[pos:pos + 4], "big", signed=True))
        micro = _fraction(data, pos + 4, fsp, frac)
        return (value.replace(microsecond=micro) if micro > 0 else value), pos + 4 + frac
    return read


def _time2(fsp: int) -> Reader:
    frac = _fsp_bytes(fsp)

    def read(data: bytes, pos: int) -> tuple[datetime.timedelta, int]:
        packed = int.from_bytes(data[pos:pos + 3], "big", signed=True)
        sign = 1 if packed & 0x800000 else -1
        if sign == -1:
            packed = ~packed + 1
        value = datetime.timedelta(hours=(packed >> 12) & 0x3FF, minutes=(packed >> 6) & 0x3F,
                                   seconds=packed & 0x3F,
                                   microseconds=_fraction(data, pos + 3, fsp, frac)) * sign
        return value, pos + 3 + frac
    return read


def _date(data: bytes, pos: int) -> tuple[datetime.date | None, int]:
    packed = int.from_bytes(data[pos:pos + 3], "little")
    year, month, day = packed >> 9 & 0x7FFF, packed >> 5 & 0xF, packed & 0x1F
    if not (year and month and day):  # a zero date: the library gives None
        return None, pos + 3
    return datetime.date(year, month, day), pos + 3


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
