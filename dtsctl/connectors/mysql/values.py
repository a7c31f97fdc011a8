"""One Python form per MySQL value, whether it was SELECTed or decoded from the binlog.

The driver and the binlog decoder disagree on a few types; rows are normalised so the
change log, the checksums and the destination see the same value either way:

| type        | SELECT (pymysql)     | binlog                      | normalised              |
| BIT(n)      | big-endian bytes     | "0101..." text              | int                     |
| SET         | "a,c"                | {"a", "c"}                  | "a,c" (definition order) |
| empty SET   | ""                   | None (reason EMPTY_SET)     | ""                      |
| BINARY(n)   | padded with 0x00     | trailing 0x00 stripped      | padded to n bytes       |
| empty binary| b""                  | "" (decoded as charset "binary") | b""               |
"""

from __future__ import annotations

import datetime
from typing import Any, Sequence

from pymysqlreplication.constants import FIELD_TYPE, NONE_SOURCE

from dtsctl.engine.events import Row, format_duration


def bit_columns(column_types: Sequence[str]) -> list[int]:
    """Indexes of BIT columns, from information_schema COLUMN_TYPE texts ("bit(10)")."""
    return [index for index, column_type in enumerate(column_types) if column_type.lower().startswith("bit")]


def normalise_selected(values: Sequence[Any], bits: Sequence[int]) -> list[Any]:
    """A SELECTed row, BIT columns as ints."""
    row = list(values)
    for index in bits:
        if row[index] is not None:
            row[index] = int.from_bytes(row[index], "big")
    return row


def normalise_binlog(values: dict[str, Any], columns: Sequence[Any], none_sources: dict[str, str]) -> Row:
    """A row image decoded by python-mysql-replication, given its table map's columns and the
    decoder's reasons for None values (an empty SET also decodes to None)."""
    row = dict(values)
    for column in columns:
        value = row.get(column.name)
        if value is None:
            if none_sources.get(column.name) == NONE_SOURCE.EMPTY_SET:
                row[column.name] = ""
            continue
        if isinstance(value, str) and getattr(column, "character_set_name", None) == "binary":
            # the decoder "decodes" bytes with the charset `binary`: a LookupError keeps them bytes,
            # except for b"", which Python decodes to "" without looking the codec up
            value = row[column.name] = value.encode("latin-1")
        if column.type == FIELD_TYPE.BIT:
            row[column.name] = int(value, 2) if isinstance(value, str) else int(value)
        elif column.type == FIELD_TYPE.SET and isinstance(value, (set, frozenset)):
            row[column.name] = ",".join(member for member in column.set_values if member in value)
        elif column.type == FIELD_TYPE.STRING and isinstance(value, bytes) and len(value) < column.max_length:
            row[column.name] = value.ljust(column.max_length, b"\x00")
    return row


def to_param(value: Any) -> Any:
    """A value as pymysql should send it. Durations are formatted here: pymysql renders a
    negative timedelta wrongly (-12:30:01 becomes -13:29:59)."""
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, (set, frozenset)):
        return ",".join(sorted(value))
    return value

