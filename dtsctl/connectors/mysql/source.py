"""The MySQL/MariaDB Source: schema, consistent snapshot chunks and the binlog stream."""

from __future__ import annotations

import logging
import zlib
from typing import Any, Callable, NoReturn, Sequence

import pymysql

from dtsctl.connectors.mysql import position as positions
from dtsctl.connectors.mysql import freeze, literals, precheck, schema as schemas, snapshot
from dtsctl.connectors.mysql.binlog import BinlogStream
from dtsctl.connectors.mysql.connection import connect, error_code, qualified, scalar, translate_errors
from dtsctl.engine.tables.checksum import table_checksum
from dtsctl.engine.errors import PositionLost
from dtsctl.engine.events import Position, Row, Transaction
from dtsctl.engine.tables.interfaces import EncodedRows, Source, TableSchema

log = logging.getLogger(__name__)

# After the first transaction arrives, keep gathering this long: one change-log commit (an fsync)
# then carries many small transactions instead of one each.
GROUP_COMMIT_SECONDS = 0.02
EXACT_COUNT_BELOW = 100_000  # estimates under this are replaced by count(*); above, the count would delay the copy (0.35 s per 1M rows)
ER_GTID_NOT_IN_BINLOG = 1236  # the source purged the binlog the stream must resume from
ER_NO_SUCH_TABLE = 1146


class MysqlSource(Source):
    def __init__(self, endpoint: dict[str, Any], task_id: str) -> None:
        super().__init__(endpoint, task_id)
        self._conn: pymysql.Connection | None = None
        self._snapshot: pymysql.Connection | None = None
        self._stream: BinlogStream | None = None
        self._stream_at: Position | None = None  # position of the last transaction handed out
        self._wanted: Callable[[str, str], bool] = lambda database, table: True
        self._databases: frozenset[str] | None = None
        self._dropped_origin: str | None = None

    @property
    def conn(self) -> pymysql.Connection:
        if self._conn is None:
            self._conn = connect(self.endpoint, "source")
        return self._conn

    def _errors(self) -> Any:
        return translate_errors("source", self.endpoint)

    def close(self) -> None:
        self._stop_stream()
        self.close_snapshot()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- connectivity and schema ----------------------------------------------------
    def check_connection(self) -> None:
        with self._errors():
            scalar(self.conn, "SELECT 1")

    def check_settings(self, incremental: bool, databases: Sequence[str]) -> list[str]:
        with self._errors():
            return precheck.source_problems(self.conn, self.endpoint, incremental, databases)

    def server_version(self) -> str | None:
        with self._errors():
            return scalar(self.conn, "SELECT VERSION()")

    def list_tables(self, database: str) -> list[str]:
        with self._errors():
            return schemas.list_tables(self.conn, database)

    def table_schema(self, database: str, table: str) -> TableSchema | None:
        with self._errors():
            return schemas.read_schema(self.conn, database, table)

    def check_filter(self, database: str, table: str, expression: str) -> str | None:
        try:
            with self._errors():
                scalar(self.conn, f"SELECT 1 FROM {qualified(database, table)} WHERE ({expression}) LIMIT 0")
        except pymysql.err.MySQLError as exc:
            return str(exc.args[1] if len(exc.args) > 1 else exc)
        return None

    # -- snapshot -------------------------------------------------------------------
    def open_snapshot(self) -> Position | None:
        """A new read view; an open one's session is reused (verify opens one per chunk, and a new
        connection costs more than the chunk's read)."""
        with self._errors():
            if self._snapshot is None:
                self._snapshot = connect(self.endpoint, "source")
            else:
                self._snapshot.commit()  # ends the previous read-only transaction
            at = snapshot.open_snapshot(self._snapshot)
        log.info("consistent snapshot opened at %s", positions.describe(at))
        return at

    def close_snapshot(self) -> None:
        if self._snapshot is not None:
            try:
                self._snapshot.close()  # ends the read-only transaction
            except pymysql.err.Error:
                pass
            self._snapshot = None

    def estimate_rows(self, database: str, table: str) -> int:
        with self._errors():
            estimate = snapshot.estimate_rows(self.conn, database, table)
            if estimate < EXACT_COUNT_BELOW:
                estimate = int(scalar(self.conn, f"SELECT count(*) FROM {qualified(database, table)}"))
            return estimate

    def read_chunk(self, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                   where: str | None) -> list[Row]:
        with self._errors():
            return snapshot.read_chunk(self._snapshot_connection(), schema, after_key, limit, where)

    def read_encoded_chunk(self, schema: TableSchema, after_key: Sequence[Any] | None, limit: int,
                           where: str | None, dialect: str) -> EncodedRows | None:
        if dialect not in (literals.INSERT_FORM, literals.LOAD_FORM):
            return None
        with self._errors():
            return snapshot.read_text_chunk(self._snapshot_connection(), schema, after_key, limit, where, dialect)

    def _snapshot_connection(self) -> pymysql.Connection:
        if self._snapshot is None:  # a resumed copy: a new read view, the stream covers the difference
            self.open_snapshot()
        assert self._snapshot is not None
        return self._snapshot

    def checksum(self, schema: TableSchema, where: str | None) -> tuple[int, str]:
        with self._errors():
            return table_checksum(snapshot.ordered_rows(self.conn, schema, schema.database, schema.name, where))

    def read_keys(self, schema: TableSchema, keys: Sequence[Sequence[Any]], where: str | None) -> list[Row]:
        with self._errors():
            return snapshot.read_keys(self._snapshot or self.conn, schema, keys, where)

    def freeze_writes(self, drain_seconds: float) -> None:
        with self._errors():
            freeze.freeze(self.conn, drain_seconds)

    def unfreeze_writes(self) -> None:
        with self._errors():
            freeze.unfreeze(self.conn)

    # -- change stream --------------------------------------------------------------
    def current_position(self) -> Position:
        with self._errors():
            return snapshot.current_position(self.conn)

    def position_order(self, position: Position) -> tuple[Any, ...]:
        return positions.order(position)

    def describe_position(self, position: Position) -> str:
        return positions.describe(position)

    def restrict(self, wanted: Callable[[str, str], bool], databases: frozenset[str]) -> None:
        self._wanted = wanted
        self._databases = databases

    def drop_writes_of(self, origin: str) -> None:
        self._dropped_origin = origin

    def read_changes(self, position: Position, max_events: int, wait_seconds: float) -> list[Transaction]:
        if self._stream is None or position != self._stream_at:
            self._start_stream(position)
        assert self._stream is not None
        try:
            transactions = self._stream.pull(max_events, wait_seconds, GROUP_COMMIT_SECONDS)
        except Exception as exc:
            self._stop_stream()
            self._raise(exc)
        if self._stream.reconnected:
            self._stop_stream()  # the next call reopens it after what was handed over
        if transactions:
            self._stream_at = transactions[-1].position
        return transactions

    def _start_stream(self, position: Position) -> None:
        self._stop_stream()
        replica = self.task_id if self.owner_token is None else f"{self.task_id}/{self.owner_token}"
        self._stream = BinlogStream(self.endpoint, _replica_server_id(replica), position, self._wanted,
                                    self._databases, self._key_of, self._dropped_origin)
        self._stream_at = position

    def _stop_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _key_of(self, database: str, table: str) -> tuple[str, ...]:
        """The key of a table a DDL statement touched, read on the stream thread's own connection;
        empty when a later statement already dropped or renamed it (the applier then takes the key
        the destination has once it replayed the statement)."""
        conn = connect(self.endpoint, "source")
        try:
            found = schemas.read_schema(conn, database, table)
            return found.key if found is not None else ()
        except pymysql.err.ProgrammingError as exc:
            if error_code(exc) != ER_NO_SUCH_TABLE:  # gone between read_schema's queries
                raise
            return ()
        finally:
            conn.close()

    def _raise(self, cause: BaseException) -> NoReturn:
        if error_code(cause) == ER_GTID_NOT_IN_BINLOG:
            raise PositionLost(
                f"the source no longer has the binlog to resume from ({cause.args[1] if len(cause.args) > 1 else cause})",
                "raise binlog_expire_logs_seconds on the source, then replace the task (destroy, apply) to copy again"
            ) from cause
        with self._errors():
            raise cause

    def release(self, position: Position) -> None:
        """The binlog is the server's to purge (binlog_expire_logs_seconds)."""

    def install_capture(self, tables: Sequence[TableSchema]) -> None:
        """The binlog captures every table; nothing to install."""

    def remove_capture(self) -> None:
        """Nothing was installed."""


def _replica_server_id(replica: str) -> int:
    """A stable server_id for this task's (and owner's) binlog connection, in a range real servers
    rarely use. MariaDB holds a new dump connection back while one with the same server_id is
    still writing to a peer that went away, for up to net_write_timeout."""
    return 0x40000000 | (zlib.crc32(replica.encode()) & 0x3FFFFFFF)
