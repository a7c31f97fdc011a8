"""The two interfaces every connector implements: a `Source` and a `Sink`.

The engine drives them; a connector never sees plans, state or the change log.
Positions are JSON-compatible values that only the source understands, except
for ordering, which `Source.position_order` exposes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from dtsctl.engine.checkpoint import CANNOT_FENCE
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.errors import FatalError
from dtsctl.errors import DtsError
from dtsctl.engine.events import ConflictCounts, Position, Row, RowChange, SchemaChange, Transaction


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # declared type as the source spells it
    not_null: bool = False
    default: str | None = None  # a SQL expression, as the source spells it


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class TableSchema:
    """A table's shape, enough to create it on a destination and to address rows by key."""

    database: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key, or a unique key over NOT NULL columns
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    # The source engine's own CREATE TABLE statement, for a destination of the same engine
    # (`dialect` names it), and the options of the database that holds the table.
    dialect: str = ""
    definition: str = ""
    database_options: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def key_of(self, row: Row) -> Row:
        return {name: row[name] for name in self.key}


@dataclass(frozen=True)
class EncodedRows:
    """A full-copy chunk of `count` rows in a form only a sink of the same engine reads (for
    MySQL: text the servers build and parse), so a same-engine copy moves values without
    decoding and re-encoding them. `rows` are the pieces of that text in order (a row each,
    or several rows together); `last_key` is the last row's key, decoded, for the checkpoint
    and the next read."""

    dialect: str
    rows: tuple[Any, ...]
    last_key: tuple[Any, ...]
    count: int

    @property
    def size(self) -> int:
        return sum(len(row) for row in self.rows)


class Source(ABC):
    """Reads a source endpoint: schema, snapshot chunks, and the change stream."""

    # Whether the full copy reads the next chunks on a thread of their own while the current one
    # is written. Worth it when a read waits for a server; a source read in-process (holding the
    # GIL) would only contend with the writer.
    reads_ahead: bool = True

    def __init__(self, endpoint: dict[str, Any], task_id: str) -> None:
        self.endpoint = endpoint
        self.task_id = task_id
        # Cluster runtime: the fencing token of the owner reading the stream. A source that registers
        # as a replica names itself by it, so a former owner's connection the server still holds (a
        # cut-off host's) does not hold its successor up.
        self.owner_token: int | None = None

    # -- connectivity and schema ----------------------------------------------------
    @abstractmethod
    def check_connection(self) -> None:
        """Raise ConnectionFailure (or DtsError) with a message that says what to fix."""

    @abstractmethod
    def list_tables(self, database: str) -> list[str]:
        """User tables in `database`, without dtsctl's own bookkeeping tables."""

    @abstractmethod
    def table_schema(self, database: str, table: str) -> TableSchema | None:
        """The table's schema, or None when it does not exist. `key` is empty when it has none."""

    @abstractmethod
    def check_filter(self, database: str, table: str, expression: str) -> str | None:
        """None when `expression` is a valid row filter for the table, else why not."""

    def check_settings(self, incremental: bool, databases: Sequence[str]) -> list[str]:
        """Server settings and privileges the task needs: one message per problem, saying what to change."""
        return []

    def server_version(self) -> str | None:
        """The server's version, for destinations that must not be older; None when it does not apply."""
        return None

    # -- snapshot -------------------------------------------------------------------
    def open_snapshot(self) -> Position | None:
        """Open a consistent read view for the following `read_chunk` calls and return the stream
        position it corresponds to; None when the source has no such view (chunks read live data)."""
        return None

    def close_snapshot(self) -> None:
        """End the read view `open_snapshot` opened, if any."""

    @abstractmethod
    def estimate_rows(self, database: str, table: str) -> int: ...

    @abstractmethod
    def read_chunk(
        self, schema: TableSchema, after_key: Sequence[Any] | None, limit: int, where: str | None
    ) -> list[Row]:
        """Up to `limit` rows with key greater than `after_key`, in key order, matching `where`."""

    def read_encoded_chunk(self, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                           where: str | None, dialect: str) -> EncodedRows | None:
        """`read_chunk`, encoded for a sink of `dialect`; None when this source cannot encode
        these rows so (the engine then reads them with `read_chunk`)."""
        return None

    @abstractmethod
    def checksum(self, schema: TableSchema, where: str | None) -> tuple[int, str]:
        """(row count, checksum) over the rows matching `where`, for verify."""

    def read_keys(self, schema: TableSchema, keys: Sequence[Sequence[Any]], where: str | None) -> list[Row]:
        """The rows with these keys that match `where` (read live, or in the open snapshot), for verify."""
        raise DtsError(f"verify cannot look rows up by key in a {self.endpoint.get('engine')} source")

    def read_keys_consistently(self, schema: TableSchema, keys: Sequence[Sequence[Any]],
                               where: str | None) -> tuple[Position, list[Row]]:
        """`read_keys` as of one stream position, with that position (for a repair). By default in a
        snapshot `open_snapshot` opens."""
        position = self.open_snapshot()
        try:
            if position is None:
                raise DtsError(f"a {self.endpoint.get('engine')} source cannot read rows at a known position; "
                               "verify cannot repair its destination")
            return position, self.read_keys(schema, keys, where)
        finally:
            self.close_snapshot()

    def freeze_writes(self, drain_seconds: float) -> None:
        """Refuse the application's writes, and return once open write transactions have ended (a
        cutover); raise DtsError when they do not within `drain_seconds` (writes stay refused)."""
        raise DtsError(f"dtsctl cannot freeze writes on a {self.endpoint.get('engine')} source")

    def unfreeze_writes(self) -> None:
        """Accept writes again (idempotent)."""

    # -- change stream --------------------------------------------------------------
    @abstractmethod
    def current_position(self) -> Position:
        """The stream position now: every change committed so far is at or before it."""

    @abstractmethod
    def position_order(self, position: Position) -> tuple[Any, ...]:
        """A sortable form of a position."""

    @abstractmethod
    def describe_position(self, position: Position) -> str:
        """A human-readable position for status (binlog file:pos, capture id, ...)."""

    def restrict(self, wanted: Callable[[str, str], bool], databases: frozenset[str]) -> None:
        """Only changes of tables where `wanted(database, table)`, all in `databases`, need be read;
        a source may drop the others before they reach the change log."""

    def drop_writes_of(self, origin: str) -> None:
        """Drop every whole transaction that carries the origin tag `origin` (two-way loop
        prevention, see dtsctl.engine.origin). Engines that cannot see tags refuse."""
        raise FatalError(f"{self.endpoint.get('engine')} sources cannot take part in a two-way topology")

    @abstractmethod
    def read_changes(self, position: Position, max_events: int, wait_seconds: float) -> list[Transaction]:
        """Transactions after `position`, waiting up to `wait_seconds` when there are none."""

    @abstractmethod
    def release(self, position: Position) -> None:
        """Changes up to `position` are durable in the change log; the source may discard them."""

    @abstractmethod
    def install_capture(self, tables: Sequence[TableSchema]) -> None:
        """Make changes of exactly these tables capturable (idempotent, reconciling)."""

    @abstractmethod
    def remove_capture(self) -> None:
        """Remove everything install_capture made for this task; tolerate it being gone."""

    def close(self) -> None:
        """Release connections."""


class Sink(ABC):
    """Writes a destination endpoint, recording the applier checkpoint in the same transaction.

    With an `origin` tag (a direction of a two-way pair), every transaction also carries the
    tag, so the opposite direction's reader can drop it (dtsctl.engine.origin).
    """

    # Connections a full copy writes a table's chunks on at once, each chunk in a transaction of
    # its own (engine/tables/chunk_writers.py); more than one only where the server applies them
    # in parallel.
    copy_writers: int = 1
    # True where a server applies what the sink sends (not this process): the applier then reads
    # its next batch meanwhile (engine/tables/read_ahead.py). An in-process destination (SQLite)
    # would only share the interpreter lock with the read.
    applies_elsewhere: bool = False

    def __init__(self, endpoint: dict[str, Any], task_id: str, origin: str | None = None) -> None:
        self.endpoint = endpoint
        self.task_id = task_id
        self.origin = origin

    def another(self, writer: int) -> Sink:
        """A sink like this one on a connection of its own, for full-copy writer number `writer`
        (1 to `copy_writers` - 1)."""
        raise NotImplementedError(f"{type(self).__name__} writes on one connection")

    @abstractmethod
    def check_connection(self) -> None: ...

    def check_database(self, database: str) -> str | None:
        """None when tables can be written to `database` on this endpoint, else what to change."""
        return None

    def check_settings(self, source_version: str | None) -> list[str]:
        """Destination settings and privileges the task needs: one message per problem."""
        return []

    def apply_ddl(self, change: SchemaChange, database: str, table: str, new_table: str | None,
                  replay: bool, checkpoint: dict[str, Any]) -> None:
        """Replay a source DDL statement on destination table `database`.`table` (renamed to
        `new_table`), then store `checkpoint`. With `replay`, the change may already be in
        place (a restart after it ran, or a table created after it) and errors saying so are
        ignored. Raises FatalError when this destination cannot replay DDL."""
        raise FatalError(
            f"cannot replay a {change.kind.upper()} TABLE on {database}.{table}: this destination does not "
            "replicate DDL; set `ddl: false` on the object and change the destination by hand"
        )

    def table_key(self, database: str, table: str) -> tuple[str, ...]:
        """The key of destination table `database`.`table` as it is now (after a replayed DDL it is
        the source's at that point of the stream, which the source itself may have changed since);
        empty when the table is missing or has none."""
        return ()

    def fence(self, token: int) -> None:
        """Cluster runtime: make this owner (fencing `token`) the only one that can commit the task's
        checkpoint from now on, stopping a former owner's open transaction; FatalError when a newer
        owner already did. Every later checkpoint write carries the token and is refused once a newer
        one was written. Destinations that cannot do this do not run on the cluster runtime."""
        raise FatalError(CANNOT_FENCE)

    @abstractmethod
    def load_checkpoint(self) -> dict[str, Any] | None:
        """This task's checkpoint as last committed, or None for a fresh task."""

    @abstractmethod
    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store this task's checkpoint on its own (progress that carries no data)."""

    @abstractmethod
    def empty_table(self, database: str, table: str) -> None:
        """Delete every row of a copied table (a re-seed copies it again); a missing table is left so."""

    @abstractmethod
    def table_exists(self, database: str, table: str) -> bool:
        """Whether the destination table exists, without reading its rows."""

    @abstractmethod
    def row_count(self, database: str, table: str) -> int | None:
        """Rows in the destination table, or None when it does not exist. It reads the whole
        table: ask only when the number is needed."""

    @abstractmethod
    def create_table(self, schema: TableSchema, database: str, table: str, deferred: Sequence[str] = ()) -> None:
        """Create the table under the given destination name when it does not exist, without
        the `deferred` indexes (from `deferrable_indexes`)."""

    def deferrable_indexes(self, schema: TableSchema) -> list[str]:
        """Indexes of the table this sink builds faster after the copy than row by row during it,
        in a form `create_table` and `build_indexes` take; none by default."""
        return []

    def build_indexes(self, database: str, table: str, deferred: Sequence[str]) -> None:
        """Create the `deferred` indexes the table does not have yet (a repeat is harmless)."""

    @abstractmethod
    def write_rows(self, schema: TableSchema, database: str, table: str, rows: Sequence[Row],
                   checkpoint: dict[str, Any], keep_existing: bool = False) -> None:
        """Upsert `rows` (full copy) and store `checkpoint`, in one transaction. With
        `keep_existing`, rows whose key is already on the destination are left as they are."""

    def encoded_dialect(self, keep_existing: bool) -> str | None:
        """The EncodedRows dialect `write_encoded_rows` takes (with `keep_existing` as given);
        None when it takes only decoded rows."""
        return None

    def write_encoded_rows(self, schema: TableSchema, database: str, table: str, rows: EncodedRows,
                           checkpoint: dict[str, Any], keep_existing: bool = False) -> None:
        """`write_rows` for a chunk encoded in this sink's `encoded_dialect`."""
        raise NotImplementedError(f"{type(self).__name__} takes no encoded rows")

    @abstractmethod
    def apply(self, changes: Sequence[RowChange], keys: dict[tuple[str, str], tuple[str, ...]],
              checkpoint: Callable[[ConflictCounts], dict[str, Any]], conflicts: Conflicts) -> ConflictCounts:
        """Apply `changes` and then store `checkpoint(counts)` in one transaction.

        `keys` maps each destination (database, table) to its key columns. `checkpoint` is a
        callable that receives the conflicts of this batch and returns the checkpoint dict
        to store. A change (not a `replay`) that meets an unexpected row goes to
        `conflicts.row`, which counts it, says whether the incoming row is written anyway,
        or raises ConflictError (the whole transaction is rolled back).
        """

    def apply_native(self, natives: Sequence[Any], names: dict[tuple[str, str], tuple[str, str]],
                     columns: dict[tuple[str, str], tuple[str, ...]], checkpoint: dict[str, Any]) -> bool:
        """Apply transactions in their source's own encoding (`Transaction.native`), then store
        `checkpoint`, in one transaction; False, with nothing applied, when this sink cannot (the
        caller applies the same transactions' changes instead, which has the conflict policies).
        `names` maps each source (database, table) they write to the destination's; `columns`
        names each destination table's columns as the source has them, in order."""
        return False

    @abstractmethod
    def checksum(self, schema: TableSchema, database: str, table: str) -> tuple[int, str]: ...

    def read_range(self, schema: TableSchema, database: str, table: str, after_key: Sequence[Any] | None,
                   upto_key: Sequence[Any] | None) -> list[Row]:
        """Rows of destination table `database`.`table` (shaped as `schema`) with key greater than
        `after_key` and at most `upto_key` (None: unbounded), for verify."""
        raise DtsError(f"verify cannot read rows by key range from a {self.endpoint.get('engine')} destination")

    def read_keys(self, schema: TableSchema, database: str, table: str, keys: Sequence[Sequence[Any]]) -> list[Row]:
        """The rows of destination table `database`.`table` with these keys, for verify."""
        raise DtsError(f"verify cannot look rows up by key in a {self.endpoint.get('engine')} destination")

    @abstractmethod
    def delete_checkpoint(self) -> None:
        """Forget this task's bookkeeping; never touch user data; tolerate it being gone."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class TableConnector:
    """What a table engine's connector module exposes as `CONNECTOR` (dtsctl.registry)."""

    source: type[Source]
    sink: type[Sink]
