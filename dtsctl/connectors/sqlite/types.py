"""Heterogeneous schema migration into SQLite: MySQL column types and values in SQLite's terms.

SQLite stores INTEGER, REAL, TEXT and BLOB. DECIMAL becomes TEXT (exact digits), dates
and times TEXT (ISO 8601). BIGINT UNSIGNED stays INTEGER, which holds values up to
2^63-1 exactly; larger values become REAL there, which the log warns about. Every
changed type is logged when the table is created.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
from typing import Any, Iterable

from dtsctl.engine.events import format_duration
from dtsctl.engine.tables.interfaces import Column, TableSchema

log = logging.getLogger(__name__)

_INT64_MAX = 2**63 - 1
_LITERAL_DEFAULT = re.compile(r"^(NULL|'(?:[^']|'')*'|-?\d+(?:\.\d+)?(?:e-?\d+)?)$", re.IGNORECASE)
_MYSQL_AFFINITY = (
    (re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint|year|bit|bool|boolean)\b"), "INTEGER"),
    (re.compile(r"^(decimal|numeric|dec|fixed)\b"), "TEXT"),
    (re.compile(r"^(float|double|real)\b"), "REAL"),
    (re.compile(r"^(date|datetime|timestamp|time)\b"), "TEXT"),
    (re.compile(r"^(binary|varbinary|tinyblob|blob|mediumblob|longblob)\b"), "BLOB"),
)


def translate(schema: TableSchema, table: str) -> TableSchema:
    """`schema` with MySQL types mapped to SQLite's, and defaults SQLite cannot evaluate dropped."""
    if schema.dialect != "mysql":
        return schema
    columns = []
    for column in schema.columns:
        source_type = column.type.lower()
        target = next((affinity for pattern, affinity in _MYSQL_AFFINITY if pattern.match(source_type)), "TEXT")
        default = column.default
        if default is not None and not _LITERAL_DEFAULT.match(default.strip()):
            log.info("%s.%s: default %s has no SQLite equivalent; dropped", table, column.name, default)
            default = None
        if target.lower() != source_type:
            log.info("%s.%s: MySQL %s -> SQLite %s", table, column.name, column.type, target)
        if re.match(r"^bigint\b.*\bunsigned", source_type):
            log.warning("%s.%s: values above %d do not fit SQLite INTEGER and are stored as REAL",
                        table, column.name, _INT64_MAX)
        columns.append(Column(name=column.name, type=target, not_null=column.not_null, default=default))
    return TableSchema(database=schema.database, name=schema.name, columns=tuple(columns), key=schema.key,
                       indexes=schema.indexes)


def values(row: Iterable[Any]) -> tuple[Any, ...]:
    """Row values as sqlite3 binds them without loss."""
    return tuple(_value(value) for value in row)


def _value(value: Any) -> Any:
    if isinstance(value, (str, bytes, float, type(None))):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value > _INT64_MAX else value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, (set, frozenset)):
        return ",".join(sorted(value))
    return value

