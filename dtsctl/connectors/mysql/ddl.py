"""Recognising table DDL in binlog query events, and replaying it under destination names.

Only CREATE / ALTER / RENAME / DROP / TRUNCATE TABLE are replicated. Each statement is
split per table into (database, table, SchemaChange) so the engine can select and
rename it like any row change; the sink puts the destination name back in front of
the statement's body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dtsctl.connectors.mysql.connection import qualified
from dtsctl.engine.events import SchemaChange

DIALECT = "mysql"
_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_QNAME = rf"(?:{_NAME}\s*\.\s*)?{_NAME}"
_FLAGS = re.IGNORECASE | re.DOTALL
_CREATE = re.compile(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?({_QNAME})(.*)$", _FLAGS)
_ALTER = re.compile(rf"^ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?({_QNAME})(.*)$", _FLAGS)
_ALTER_RENAME = re.compile(rf"^\s*RENAME\s+(?:TO\s+|AS\s+)?({_QNAME})\s*$", _FLAGS)
_RENAME = re.compile(r"^RENAME\s+TABLES?\s+(.*)$", _FLAGS)
_RENAME_PAIR = re.compile(rf"^\s*({_QNAME})\s+TO\s+({_QNAME})\s*$", _FLAGS)
_DROP = re.compile(r"^DROP\s+TABLES?\s+(?:IF\s+EXISTS\s+)?(.*?)(?:\s+(?:RESTRICT|CASCADE))?\s*$", _FLAGS)
_TRUNCATE = re.compile(rf"^TRUNCATE\s+(?:TABLE\s+)?({_QNAME})\s*$", _FLAGS)
_COMMENT = re.compile(r"/\*(?!!).*?\*/|--[ \t][^\n]*|#[^\n]*", re.DOTALL)


@dataclass(frozen=True)
class TableDdl:
    database: str
    table: str
    change: SchemaChange


def parse(statement: str, default_database: str) -> list[TableDdl]:
    """The table DDL in `statement`, one entry per table; [] for anything else."""
    sql = _COMMENT.sub(" ", statement).strip().rstrip(";").strip()
    if match := _CREATE.match(sql):
        if re.match(r"\s*(LIKE|\(\s*LIKE)\b", match.group(2), re.IGNORECASE):
            return []  # CREATE TABLE ... LIKE: its row-format binlog form is a plain CREATE
        return [_entry(match.group(1), default_database, SchemaChange("create", match.group(2).strip(),
                                                                     dialect=DIALECT))]
    if match := _ALTER.match(sql):
        body = match.group(2).strip()
        if rename := _ALTER_RENAME.match(body):
            entry = _rename(match.group(1), rename.group(1), default_database)
            return [entry] if entry is not None else []
        return [_entry(match.group(1), default_database, SchemaChange("alter", body, dialect=DIALECT))]
    if match := _RENAME.match(sql):
        pairs = [_RENAME_PAIR.match(part) for part in _split_top_level(match.group(1))]
        renames = [_rename(pair.group(1), pair.group(2), default_database) for pair in pairs if pair]
        return [entry for entry in renames if entry is not None]
    if match := _DROP.match(sql):
        return [_entry(name, default_database, SchemaChange("drop", dialect=DIALECT))
                for name in _split_top_level(match.group(1))]
    if match := _TRUNCATE.match(sql):
        return [_entry(match.group(1), default_database, SchemaChange("truncate", dialect=DIALECT))]
    return []


def statement_for(change: SchemaChange, database: str, table: str, new_table: str | None = None) -> str:
    """The statement to run on the destination table `database`.`table`."""
    target = qualified(database, table)
    if change.kind == "create":
        return f"CREATE TABLE IF NOT EXISTS {target} {change.body}"
    if change.kind == "alter":
        return f"ALTER TABLE {target} {change.body}"
    if change.kind == "rename":
        assert new_table is not None
        return f"RENAME TABLE {target} TO {qualified(database, new_table)}"
    if change.kind == "drop":
        return f"DROP TABLE IF EXISTS {target}"
    return f"TRUNCATE TABLE {target}"


def _rename(old: str, new: str, default_database: str) -> TableDdl | None:
    """A rename inside one database; a move to another database is not replicated (None)."""
    database, table = split_name(old, default_database)
    new_database, new_table = split_name(new, default_database)
    if new_database != database:
        return None
    return TableDdl(database, table, SchemaChange("rename", new_table=new_table, dialect=DIALECT))


def _entry(name: str, default_database: str, change: SchemaChange) -> TableDdl:
    database, table = split_name(name, default_database)
    return TableDdl(database, table, change)


def split_name(name: str, default_database: str) -> tuple[str, str]:
    parts = [_unquote(part) for part in re.findall(_NAME, name)]
    return (parts[0], parts[1]) if len(parts) == 2 else (default_database, parts[0])


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside backquotes."""
    parts, current, quoted = [], [], False
    for char in text:
        if char == "`":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]
