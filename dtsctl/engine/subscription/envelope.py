"""The record envelope: one JSON object per change, the same for every source engine.

    {"seq": 12, "op": "update", "object": "shop.orders", "xid": 10,
     "before": {...}, "after": {...}, "types": {"amount": "decimal"},
     "commit_time": "2024-05-01T10:00:00.250000+00:00", "commit_ts": 1714557600.25,
     "position": <source position>}

Values JSON has no form for are written as strings and named in `types`
(column -> type), so a consumer can read them back exactly: see `TYPE_NAMES`.
A transaction is `begin`, its row (or `ddl`) records, `commit`, all with `xid`
= the seq of its `begin`. See docs/subscriptions.md.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import re
from typing import Any, Callable

from dtsctl.engine.events import ChangeEvent, Position, Row, SchemaChange, Transaction, format_duration

Envelope = dict[str, Any]

MONGODB = "mongodb"  # the dialect of a document source's DDL: `body` is the server command
_ADMIN_COMMANDS = ("renameCollection",)  # run against the admin database, not the collection's
TYPE_NAMES = ("decimal", "bytes", "datetime", "date", "duration", "set", "float")
_DURATION = re.compile(r"(-?)(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def transaction_records(tx: Transaction, first_seq: int) -> list[Envelope]:
    """`begin`, one record per event, `commit`, numbered from `first_seq`; [] for an empty transaction.
    Every record carries the transaction's commit time: a source stamps each statement's events
    with the time the statement began, which may be an earlier second than the commit."""
    if not tx.events:
        return []
    xid = first_seq
    records = [_record(first_seq, "begin", None, xid, tx.commit_time, tx.events[0].position)]
    for event in tx.events:
        records.append(_event_record(first_seq + len(records), xid, event, tx.commit_time))
    records.append(_record(first_seq + len(records), "commit", None, xid, tx.commit_time, tx.position))
    return records


def heartbeat_record(seq: int, now: float, position: Position) -> Envelope:
    """Marks that the source was read up to `position` at `now` with nothing to report."""
    return _record(seq, "heartbeat", None, None, now, position)


def gap_record(first_lost: int, last_lost: int, now: float) -> Envelope:
    """Stands for records the size bound trimmed before a reader got them; its seq is the last one lost."""
    record = _record(last_lost, "gap", None, None, now, None)
    record["gap"] = {"from": first_lost, "to": last_lost, "records": last_lost - first_lost + 1}
    return record


def _event_record(seq: int, xid: int, event: ChangeEvent, commit_ts: float) -> Envelope:
    record = _record(seq, event.op, f"{event.database}.{event.table}", xid, commit_ts, event.position)
    types: dict[str, str] = {}
    record["before"] = _encode_row(event.before, types)
    record["after"] = _encode_row(event.after, types)
    record["types"] = types
    ddl = event.ddl
    if ddl is not None:
        record["ddl"] = {"kind": ddl.kind, "statement": ddl_statement(ddl, event.database, event.table),
                         "body": ddl.body, "new_table": ddl.new_table, "key": list(ddl.key), "dialect": ddl.dialect}
    return record


def ddl_statement(ddl: SchemaChange, database: str, table: str) -> str:
    """The statement as it applies to the source table, under qualified names, in the source's dialect
    (`ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT`); for a document source, its command."""
    if ddl.dialect == MONGODB:
        return _mongosh(ddl.body, database)
    quote = _quote_mysql if ddl.dialect == "mysql" else _quote_ansi
    target = f"{quote(database)}.{quote(table)}"
    if ddl.kind == "create":
        return f"CREATE TABLE {target} {ddl.body}".rstrip()
    if ddl.kind == "alter":
        return f"ALTER TABLE {target} {ddl.body}".rstrip()
    if ddl.kind == "rename":
        new = f"{quote(database)}.{quote(ddl.new_table or '')}"
        return f"RENAME TABLE {target} TO {new}" if ddl.dialect == "mysql" else f"ALTER TABLE {target} RENAME TO {new}"
    if ddl.kind == "drop":
        return f"DROP TABLE {target}"
    return f"TRUNCATE TABLE {target}"


def _mongosh(command: str, database: str) -> str:
    """The mongosh line that runs a MongoDB server command (canonical Extended JSON) where it belongs."""
    name = next(iter(json.loads(command)), None)
    if name in _ADMIN_COMMANDS:
        return f"db.adminCommand({command})"
    return f"db.getSiblingDB({json.dumps(database)}).runCommand({command})"


def _quote_mysql(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _quote_ansi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _record(seq: int, op: str, obj: str | None, xid: int | None, commit_ts: float, position: Position) -> Envelope:
    return {
        "seq": seq, "op": op, "object": obj, "xid": xid, "before": None, "after": None, "types": {},
        "commit_time": iso_time(commit_ts), "commit_ts": commit_ts, "position": position,
    }


def iso_time(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


# -- values -------------------------------------------------------------------------
def _encode_row(row: Row | None, types: dict[str, str]) -> Row | None:
    if row is None:
        return None
    encoded = {}
    for name, value in row.items():
        encoded[name], type_name = encode_value(value)
        if type_name is not None:
            types[name] = type_name
    return encoded


def encode_value(value: Any) -> tuple[Any, str | None]:
    """(JSON value, type name or None when JSON carries the value as it is)."""
    if isinstance(value, decimal.Decimal):
        # positional, every digit of the scale kept: "-0.000000000000000000000000000001", not "-1E-30"
        return format(value, "f"), "decimal"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii"), "bytes"
    if isinstance(value, datetime.datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, datetime.date):
        return value.isoformat(), "date"
    if isinstance(value, datetime.timedelta):
        return format_duration(value), "duration"
    if isinstance(value, (set, frozenset)):
        return sorted(value), "set"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value), "float"
    return value, None


def decode_value(value: Any, type_name: str | None) -> Any:
    """Inverse of `encode_value`."""
    if value is None or type_name is None:
        return value
    return _DECODERS[type_name](value)


def decode_row(row: Row | None, types: dict[str, str]) -> Row | None:
    return None if row is None else {name: decode_value(value, types.get(name)) for name, value in row.items()}


def _parse_duration(text: str) -> datetime.timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    sign, hours, minutes, seconds, fraction = match.groups()
    value = datetime.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds),
                               microseconds=int((fraction or "0").ljust(6, "0")))
    return -value if sign else value


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "decimal": decimal.Decimal,
    "bytes": base64.b64decode,
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "duration": _parse_duration,
    "set": set,
    "float": float,
}
