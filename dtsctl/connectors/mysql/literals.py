"""Rows as text the source server builds and the destination server parses back, so a MySQL →
MySQL full copy never decodes or re-escapes a value in Python.

Two forms, one per way of loading them (the EncodedRows dialects):

- `INSERT_FORM`, "(v1,v2,...)": literals for `INSERT ... VALUES`; bytes as X'..'.
- `LOAD_FORM`, "v1,v2,...": the lines of `LOAD DATA ... FIELDS TERMINATED BY ','
  OPTIONALLY ENCLOSED BY '''`. Numbers, dates and times go bare (nothing in them to escape);
  LOAD DATA reads no X'..' and stores BIT text as bytes, so bytes travel as quoted hex and
  BIT as a number, each set through a user variable.

Text values are QUOTE()d in both: QUOTE escapes backslash, quote, NUL and Ctrl-Z, the
escapes both parsers read back, and gives the bare word NULL for NULL, which both read as
NULL. Text is converted to utf8mb4 so columns of different collations concatenate.
"""

from __future__ import annotations

from enum import Enum
from typing import Sequence

from dtsctl.connectors.mysql.connection import qualified, quote
from dtsctl.engine.tables.interfaces import Column

INSERT_FORM = "mysql"
LOAD_FORM = "mysql-load"


class Kind(Enum):
    NUMBER = "number"  # numbers, dates and times: nothing in their text to escape or convert
    TEXT = "text"  # QUOTE() gives a literal the destination parses back to the same value
    BYTES = "bytes"
    BIT = "bit"


_NUMBER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "float", "double",
                 "date", "datetime", "timestamp", "time", "year"}
_TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"}
_BYTE_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


def kind(column: Column) -> Kind | None:
    """How the column's values travel as text; None for types with no text form here
    (spatial ones), which are copied decoded."""
    base = column.type.lower().split("(")[0].split()[0]
    if base in _NUMBER_TYPES:
        return Kind.NUMBER
    if base in _TEXT_TYPES:
        return Kind.TEXT
    if base in _BYTE_TYPES:
        return Kind.BYTES
    if base == "bit":
        return Kind.BIT
    return None


def row_expression(columns: Sequence[Column], form: str) -> str | None:
    """A SQL expression giving a row in `form`; None when a column has no text form. CONCAT, not
    CONCAT_WS: a part too long for the server is NULL, and the whole row must be NULL then."""
    kinds = [kind(column) for column in columns]
    if any(found is None for found in kinds):
        return None
    row = ", ',', ".join(_value(column, found, form) for column, found in zip(columns, kinds))
    return f"CONCAT('(', {row}, ')')" if form == INSERT_FORM else f"CONCAT({row})"


def _value(column: Column, found: Kind | None, form: str) -> str:
    """A column's text; each function here costs the source server time on every row (measured:
    a CAST or CONVERT per column made the source's work half as large again).
    Not QUOTE(HEX(..)): a HEX too long for the server is NULL, which QUOTE turns into the
    word NULL; CONCAT keeps it NULL, so the row is seen to be too long."""
    name = quote(column.name)
    if found is Kind.BYTES:
        opening = "''''" if form == LOAD_FORM else "'X'''"
        return f"IF({name} IS NULL, 'NULL', CONCAT({opening}, HEX({name}), ''''))"
    if found is Kind.BIT:
        return f"IFNULL(CAST({name} AS UNSIGNED), 'NULL')"
    if found is Kind.NUMBER and form == LOAD_FORM:  # LOAD DATA takes them bare; an INSERT would not
        return name if column.not_null else f"IFNULL({name}, 'NULL')"
    return f"CONVERT(QUOTE({name}) USING utf8mb4)"


def load_statement(database: str, table: str, columns: Sequence[Column]) -> str:
    """The LOAD DATA LOCAL statement that reads `LOAD_FORM` lines into the table, replacing rows
    of the same key (as the INSERT form's upsert does). REPLACE also keeps strict mode's
    errors errors: without it, LOCAL would turn them into warnings."""
    targets, assignments = [], []
    for index, column in enumerate(columns):
        found = kind(column)
        if found in (Kind.NUMBER, Kind.TEXT):
            targets.append(quote(column.name))
            continue
        variable = f"@v{index}"
        targets.append(variable)
        decoded = f"UNHEX({variable})" if found is Kind.BYTES else f"CAST({variable} AS UNSIGNED)"
        assignments.append(f"{quote(column.name)} = {decoded}")
    return (f"LOAD DATA LOCAL INFILE 'dtsctl-chunk' REPLACE INTO TABLE {qualified(database, table)} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '''' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({', '.join(targets)})"
            f"{' SET ' + ', '.join(assignments) if assignments else ''}")
