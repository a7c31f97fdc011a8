"""Change events and transactions, as plain engine-neutral data.

A source emits `Transaction`s of `ChangeEvent`s; the reader appends them to the
change log; the applier turns each event into `RowChange`s for the sink after
filtering and renaming. Row images are dicts of column -> Python value;
`encode_value`/`decode_value` carry the values JSON has no form for (bytes,
exact decimals, dates and times, sets) through JSON as tagged objects.

A `ChangeEvent` with op "ddl" carries a `SchemaChange` instead of row images.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import datetime
import decimal
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

from dtsctl.engine import records

Op = Literal["insert", "update", "delete"]
EventOp = Literal["insert", "update", "delete", "ddl"]
DdlKind = Literal["create", "alter", "rename", "drop", "truncate"]
Row = dict[str, Any]
Position = Any  # JSON-compatible, opaque to the engine; ordered by Source.position_order

OPS: tuple[Op, ...] = ("insert", "update", "delete")


@dataclass(frozen=True)
class SchemaChange:
    """A DDL statement on one table, in a form a sink can replay under other names.

    `body` is the source engine's SQL after the table name (the column list and options of
    a CREATE, the clauses of an ALTER), or "" for rename/drop/truncate; `new_table` is the
    target of a rename; `key` the table's key columns after the change.
    """

    kind: DdlKind
    body: str = ""
    new_table: str | None = None
    key: tuple[str, ...] = ()
    dialect: str = ""  # engine whose SQL `body` is ("mysql")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "body": self.body, "new": self.new_table, "key": list(self.key),
                "dialect": self.dialect}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SchemaChange":
        return cls(kind=data["kind"], body=data["body"], new_table=data["new"], key=tuple(data["key"]),
                   dialect=data.get("dialect", ""))


@dataclass(frozen=True)
class ChangeEvent:
    """One row change at the source. `before` is absent for inserts, `after` for deletes.
    A DDL event (op "ddl") has neither, and its `ddl`."""

    database: str
    table: str
    op: EventOp
    before: Row | None
    after: Row | None
    commit_time: float  # unix seconds at the source
    position: Position  # source position of this event (resuming after it skips it)
    ddl: SchemaChange | None = field(default=None)
    # Written by `verify --repair`: the row as the source held it at `position`, applied as an
    # upsert or delete-if-present (dtsctl.engine.tables.verify).
    repair: bool = False

    def to_json(self) -> dict[str, Any]:
        data = {
            "db": self.database,
            "t": self.table,
            "op": self.op,
            "b": encode_row(self.before),
            "a": encode_row(self.after),
            "ts": self.commit_time,
            "pos": self.position,
        }
        if self.ddl is not None:
            data["ddl"] = self.ddl.to_json()
        if self.repair:
            data["repair"] = True
        return data

    @classmethod
    def from_record_fields(cls, fields: records.Fields) -> "ChangeEvent":
        """The event of a change-log record's fields (dtsctl.engine.records.decode_record), its row
        images decoded when first read (`__getattr__`). Fills the instance's dict at once: a frozen
        dataclass's __init__ sets each field through object.__setattr__, which costs more than
        twice as much per event."""
        event = object.__new__(cls)
        event.__dict__.update(zip(_STORED_FIELDS, fields))
        if fields[7] is not None:
            event.__dict__["ddl"] = SchemaChange.from_json(fields[7])
        return event

    def __getattr__(self, name: str) -> Any:
        """A recorded event's row image, decoded now that it is first read (only called for an
        attribute not yet in the instance's dict)."""
        stored = records.STORED_IMAGES.get(name)
        if stored is None or stored not in self.__dict__:
            raise AttributeError(name)
        value = self.__dict__[name] = records.row(self.__dict__.pop(stored))
        return value

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ChangeEvent":
        return cls(
            database=data["db"],
            table=data["t"],
            op=data["op"],
            before=decode_row(data["b"]),
            after=decode_row(data["a"]),
            commit_time=data["ts"],
            position=data["pos"],
            ddl=SchemaChange.from_json(data["ddl"]) if "ddl" in data else None,
            repair=data.get("repair", False),
        )


# records.Fields' order, with the row images kept as stored until read
_STORED_FIELDS = tuple(records.STORED_IMAGES.get(item.name, item.name) for item in dataclasses.fields(ChangeEvent))


@dataclass(frozen=True)
class Transaction:
    """Changes the source committed together, in order.

    `position` is where the source stream resumes after this transaction.
    """

    events: tuple[ChangeEvent, ...]
    position: Position
    commit_time: float
    # The keys of the rows it writes (dtsctl.engine.peer_writes.row_key), recorded by the change
    # log for the other direction of a two-way pair; not stored with the transaction.
    keys: tuple[bytes, ...] = ()
    # The source's own encoding of its row events, which a destination of the same engine may
    # apply itself instead of the events (for MySQL: dtsctl.connectors.mysql.row_events): (context,
    # body), the context bytes shared by many transactions (a format description). The record
    # stores the body and the context's key; the change log stores each context once.
    native: tuple[bytes, Any] | None = None

    def payload(self) -> bytes:
        """The change log's record of the events (dtsctl.engine.records)."""
        native = None if self.native is None else (context_key(self.native[0]), self.native[1])
        fields = self.__dict__.get("_fields")
        if fields is not None:
            return records.encode_fields(fields, native)
        return records.encode_events(self.events, native)

    @classmethod
    def recorded(cls, fields: list[records.Fields], position: Position, commit_time: float,
                 keys: tuple[bytes, ...] = (), native: tuple[bytes, Any] | None = None) -> "Transaction":
        """A transaction of events given as record fields (dtsctl.engine.records), built only when
        `events` is first read (`__getattr__`): a reader that only appends it, and an applier that
        hands the native encoding on, never build them."""
        tx = object.__new__(cls)
        tx.__dict__.update(_fields=fields, position=position, commit_time=commit_time, keys=keys, native=native)
        return tx

    def change_count(self) -> int:
        """How many events it holds, without building them."""
        fields = self.__dict__.get("_fields")
        return len(fields) if fields is not None else len(self.events)

    @classmethod
    def from_payload(cls, payload: str | bytes, position: Position, commit_time: float,
                     contexts: Callable[[str], bytes | None] = lambda key: None) -> "Transaction":
        """Read a record back; JSON text is how earlier versions wrote them. `contexts` gives the
        native encoding's context by its key (None: unknown, and the transaction has no native
        encoding). A record's events are built when first read (`__getattr__`): an applier that
        hands the native encoding on reads only the `summary`."""
        if isinstance(payload, str):
            events = tuple(ChangeEvent.from_json(item) for item in json.loads(payload))
            return cls(events=events, position=position, commit_time=commit_time)
        fields, stored = records.decode_record(payload)
        context = None if stored is None else contexts(stored[0])
        return cls.recorded(fields, position, commit_time, native=None if context is None else (context, stored[1]))

    def __getattr__(self, name: str) -> Any:
        """The events of a transaction read from a record, built now that they are first read (only
        called for an attribute not in the instance's dict)."""
        if name != "events" or "_fields" not in self.__dict__:
            raise AttributeError(name)
        events = self.__dict__["events"] = tuple(map(ChangeEvent.from_record_fields, self.__dict__["_fields"]))
        del self.__dict__["_fields"]
        return events

    def summary(self) -> "TransactionSummary":
        """What the events do, table by table, without building them for a transaction read from a
        record; computed once."""
        known = self.__dict__.get("_summary")
        if known is None:
            fields = self.__dict__.get("_fields")
            if fields is None:
                fields = [(event.database, event.table, event.op, _names(event.before), _names(event.after), None,
                           event.position, None, event.repair) for event in self.events]
            known = self.__dict__["_summary"] = TransactionSummary.of(fields)
        return known


def _names(row: Row | None) -> tuple[tuple[str, ...], None] | None:
    return None if row is None else (tuple(row), None)


@dataclass(frozen=True)
class TableSummary:
    """A transaction's events on one table: their operations, the first one's position, and the
    columns of its first row image."""

    ops: frozenset[str]
    first_position: Position
    columns: tuple[str, ...]


@dataclass(frozen=True)
class TransactionSummary:
    count: int
    has_ddl: bool
    has_repair: bool
    tables: dict[tuple[str, str], TableSummary]

    @classmethod
    def of(cls, fields: Iterable[records.Fields]) -> "TransactionSummary":
        """The summary of events given as record fields (row images: anything whose first item is
        the column names)."""
        count, repair = 0, False
        seen: dict[tuple[str, str], tuple[set[str], Position, tuple[str, ...]]] = {}
        for database, table, op, before, after, _, position, _, repaired in fields:
            count += 1
            repair = repair or repaired
            found = seen.get((database, table))
            if found is None:
                image = after if after is not None else before
                seen[(database, table)] = ({op}, position, tuple(image[0]) if image is not None else ())
            else:
                found[0].add(op)
        tables = {table: TableSummary(frozenset(ops), position, columns)
                  for table, (ops, position, columns) in seen.items()}
        return cls(count, any("ddl" in table.ops for table in tables.values()), repair, tables)


@dataclass(frozen=True)
class RowChange:
    """What the sink must do to one destination row.

    `key` identifies the existing row (the before image's key for updates and
    deletes, the new row's key for inserts); `row` is the full new image.
    `replay` marks a change that may already be reflected by the full copy, or
    whose conflict is already resolved: an upsert or delete-if-present, never a
    conflict. Any other change that meets an unexpected row is a conflict, which
    the sink hands to the applier's `Conflicts` (dtsctl.engine.conflicts).
    """

    database: str  # destination database
    table: str  # destination table
    op: Op
    key: Row
    row: Row | None
    replay: bool = False


@dataclass
class ConflictCounts:
    insert: int = 0
    update: int = 0
    delete: int = 0

    def add(self, op: Op, count: int = 1) -> None:
        setattr(self, op, getattr(self, op) + count)

    def as_dict(self) -> dict[str, int]:
        return {"insert": self.insert, "update": self.update, "delete": self.delete}


def format_duration(value: datetime.timedelta) -> str:
    """[-]HH:MM:SS[.ffffff], as MySQL writes a TIME (hours may exceed 23)."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    seconds, fraction = divmod(abs(micros), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{'-' if micros < 0 else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:06d}" if fraction else "")


def encode_value(value: Any) -> Any:
    """A JSON-safe form of a column value: bytes become {"$b": base64}, decimals {"$d": text},
    datetimes {"$dt": iso}, dates {"$date": iso}, durations {"$td": microseconds}, sets {"$set": [...]}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, decimal.Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$td": (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted(value)}
    return value


def decode_value(value: Any) -> Any:
    """Inverse of `encode_value`; also reads {"$x": hex} and {"$f": "%!.17g"} written by capture triggers."""
    if isinstance(value, dict) and len(value) == 1:
        tag, payload = next(iter(value.items()))
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(payload)
    return value


_DECODERS: dict[str, Any] = {
    "$b": base64.b64decode,
    "$x": bytes.fromhex,
    "$f": float,
    "$d": decimal.Decimal,
    "$dt": datetime.datetime.fromisoformat,
    "$date": datetime.date.fromisoformat,
    "$td": lambda micros: datetime.timedelta(microseconds=micros),
    "$set": set,
}


def encode_row(row: Row | None) -> Row | None:
    return None if row is None else {name: encode_value(value) for name, value in row.items()}


def decode_row(row: Row | None) -> Row | None:
    return None if row is None else {name: decode_value(value) for name, value in row.items()}


@functools.lru_cache(maxsize=64)
def context_key(context: bytes) -> str:
    """The key a native encoding's context is stored under (its content's digest). Kept: every
    transaction of a stream shares one context, and hashing it again took 0.6 us each."""
    return hashlib.blake2b(context, digest_size=8).hexdigest()


def format_key(key: Row) -> str:
    """`(id=5)` or `(a=1, b='x')`, for messages."""
    return "(" + ", ".join(f"{name}={value!r}" for name, value in key.items()) + ")"
