"""The binlog stream: whole source transactions from a GTID position, read when asked.

`pull` reads on the calling thread: it waits for a first complete transaction, then takes
what the connection has already received (up to a number of row changes), so one change-log
append carries many small transactions. No thread of its own: a second thread handing
transactions over to the appending one cost the reader process about an eighth of its CPU
in hand-overs and GIL switches (docs/benchmarks.md).

python-mysql-replication is used in blocking mode with a server heartbeat, so a read waits
at most HEARTBEAT_SECONDS when the source is idle. Transactions are handed over only once
complete (XID, COMMIT, or a standalone DDL), so a transaction is never split. The library
reconnects by itself after a lost connection and then replays from the position it was
opened at: GTIDs at or below the state already handed over are skipped, which also makes
that replay harmless.

With a `dropped_origin` (the reverse of a two-way pair), a transaction that writes
a checkpoint row carrying that origin tag was written by the peer's applier and is
dropped whole; dtsctl's bookkeeping schema is read for that purpose only.

Each transaction also carries its row events as the source wrote them (`Transaction.native`,
dtsctl.connectors.mysql.row_events) when it can, for a destination that applies them itself.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import pymysql
from pymysqlreplication.event import (HeartbeatLogEvent, MariadbGtidEvent, QueryEvent, RotateEvent,
                                      XidEvent)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from dtsctl.connectors.mysql import ddl
from dtsctl.connectors.mysql import position as positions
from dtsctl.connectors.mysql.connection import settings
from dtsctl.connectors.mysql.hot_events import Gtid, HotStreamReader, Rows, Xid
from dtsctl.connectors.mysql.schema import CHECKPOINT_TABLE, META_DATABASE, ORIGIN_COLUMN
from dtsctl.connectors.mysql.row_decoder import Decoders, StoredImages
from dtsctl.connectors.mysql.row_events import TransactionEvents
from dtsctl.engine import records
from dtsctl.engine.events import Op, SchemaChange, Transaction
from dtsctl.engine.peer_writes import row_key

log = logging.getLogger(__name__)

# The longest a read waits on an idle source, so also how long a reader asked to stop may take to
# see it (it reads on its only thread): at 0.5 s pausing a task took up to 0.5 s longer.
HEARTBEAT_SECONDS = 0.1
EMPTY_EVERY_SECONDS = 1.0  # how often a position-only transaction records progress past unselected ones
FL_STANDALONE = 0x01  # MariaDB GTID flag: the group is one statement with no COMMIT/XID (DDL)

_OPERATIONS: dict[type, Op] = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}

Wanted = Callable[[str, str], bool]
KeyOf = Callable[[str, str], tuple[str, ...]]


class Reconnected(Exception):
    """The library reconnected by itself. Its cached table maps may describe another server
    lifetime's table ids, so the stream is reopened from what was handed over instead."""


class BinlogStream:
    """Reads from `start`; `pull` returns the complete `Transaction`s read since the last pull.

    `reconnected` turns true when the library reconnected by itself (see `Reconnected`): the
    stream is closed then, and its owner opens another after what was handed over.
    """

    def __init__(self, endpoint: dict[str, Any], server_id: int, start: positions.Position, wanted: Wanted,
                 databases: frozenset[str] | None, key_of: KeyOf, dropped_origin: str | None = None) -> None:
        self._endpoint = endpoint
        self._server_id = server_id
        self._start = start
        self._wanted = wanted
        self._databases = databases
        self._key_of = key_of
        self._dropped_origin = dropped_origin
        self._tagged = False  # the open transaction carries the dropped origin's tag
        # For a direction of a pair: the peer's applied change-log seq this source had received
        # (from the peer's checkpoint rows), and the row keys of the open transaction.
        self._peer_seen = int(start.get("peer_seen", 0))
        self._peer_applied = 0
        self._keys: list[bytes] = []
        self._table_keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._decoders = Decoders()
        self._native = TransactionEvents()
        self._reader: HotStreamReader | None = None
        self._gtids = positions.parse_gtid_state(start.get("gtid", ""))
        self._file = start.get("file") or ""
        self._pending: list[records.Fields] = []  # the open transaction's changes, as the change log records them
        self._gtid = (0, 0, 0)  # (domain, server, seq) of the open transaction
        self._standalone = False
        self._skipping = False
        self._open = False
        self._connected = False
        self._skipped_to: tuple[positions.Position, float] | None = None
        self._emitted_at = time.monotonic()
        self._done: list[Transaction] = []  # complete transactions not pulled yet
        self._done_changes = 0
        self._failure: BaseException | None = None  # raised by the next pull, after what was read before it
        self.reconnected = False

    def pull(self, max_changes: int, wait_seconds: float, gather_seconds: float) -> list[Transaction]:
        """The transactions completed since the last call. It waits for a first one, up to
        `wait_seconds` (a read already begun waits for the source's next heartbeat at most), then
        reads on while the source has more for it within `gather_seconds`, up to `max_changes`
        row changes. Each call reads at least one event, so nothing received is ever left
        waiting in a buffer for a call that would not read it."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            self.close()
            raise failure
        reader = self._reader or self._open_reader()
        wait_until = time.monotonic() + wait_seconds
        gather_until: float | None = None
        try:
            while True:
                event = reader.fetchone()
                if event is None:
                    raise pymysql.err.OperationalError(2013, "the source ended the binlog stream")
                self._handle(event, reader)
                if self._done:
                    now = time.monotonic()
                    gather_until = gather_until or now + gather_seconds
                    if self._done_changes >= max_changes or not reader.arriving(gather_until - now):
                        break
                elif time.monotonic() >= wait_until:
                    break
        except Reconnected:
            self.reconnected = True
            self.close()
        except Exception as exc:  # the owner classifies it, after the transactions read before it
            if not self._done:
                self.close()
                raise
            self._failure = exc
        done, self._done, self._done_changes = self._done, [], 0
        return done

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _open_reader(self) -> HotStreamReader:
        self._reader = HotStreamReader(
            self._decoders,
            connection_settings=settings(self._endpoint),
            server_id=self._server_id,
            auto_position=self._start.get("gtid") or "",
            is_mariadb=True,
            blocking=True,
            slave_heartbeat=HEARTBEAT_SECONDS,
            freeze_schema=True,  # table ids change with the table's definition, so caching by id is safe
            only_schemas=self._schemas(),
            only_events=[MariadbGtidEvent, QueryEvent, XidEvent, RotateEvent, HeartbeatLogEvent,
                         WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
            enable_logging=False,
        )
        return self._reader

    def _schemas(self) -> list[str] | None:
        if self._databases is None:
            return None
        extra = {META_DATABASE} if self._dropped_origin is not None else set()
        return sorted(self._databases | extra)

    # -- events ---------------------------------------------------------------------
    def _handle(self, event: Any, reader: HotStreamReader) -> None:
        if type(event) is Rows:  # the hot events first (dtsctl.connectors.mysql.hot_events)
            if self._open and not self._skipping:
                if self._rows(event.schema, event.table, event.op, event.log_pos, event.timestamp, event.images):
                    self._native.add(event.table_id, event.event, reader.table_maps.get(event.table_id))
        elif type(event) is Xid:
            if self._open and not self._skipping:
                self._commit(event.log_pos, event.timestamp)
        elif type(event) is Gtid:
            self._begin(event)
        elif isinstance(event, RotateEvent):
            if event.timestamp == 0:  # artificial: sent when a dump connection starts or changes file
                if self._connected:
                    raise Reconnected()
                self._connected = True
            self._file = event.next_binlog
        elif isinstance(event, HeartbeatLogEvent):
            self._maybe_record_skipped()
        elif isinstance(event, MariadbGtidEvent):
            self._begin(event)
        elif self._skipping or not self._open:
            return
        elif isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
            if self._rows(event.schema, event.table, _OPERATIONS[type(event)], event.packet.log_pos,
                          event.timestamp, lambda: self._decoders.rows(event)):
                self._native.add(event.table_id, event.packet.packet._data[1:], reader.table_maps.get(event.table_id))
        elif isinstance(event, XidEvent):
            self._commit(event.packet.log_pos, event.timestamp)
        elif isinstance(event, QueryEvent):
            self._query(event)

    def _begin(self, event: MariadbGtidEvent | Gtid) -> None:
        self._pending = []
        self._native.begin()
        self._tagged = False
        self._keys = []
        self._peer_applied = 0
        seen = self._gtids.get(event.domain_id)
        self._skipping = seen is not None and event.gtid_seq_no <= seen[1]
        self._standalone = bool(event.flags & FL_STANDALONE)
        self._open = True
        self._gtid = (event.domain_id, event.server_id, event.gtid_seq_no)

    def _rows(self, schema: str, table: str, op: Op, log_pos: int, timestamp: int,
              images: Callable[[], list[StoredImages]]) -> bool:
        """A rows event, the library's or a hot one: `images` decodes its rows as the change log
        stores them, which the events keep until something reads them. True when its changes
        are the transaction's."""
        if schema == META_DATABASE:
            if self._dropped_origin is not None and table == CHECKPOINT_TABLE:
                for before, after in images():
                    values = records.row(after or before) or {}
                    if values.get(ORIGIN_COLUMN) == self._dropped_origin:
                        self._tagged = True
                        self._peer_applied = max(self._peer_applied, _applied_seq(values.get("data")))
            return False
        if not self._wanted(schema, table):
            return False
        stored = images()
        self._pending += records.statement_fields(schema, table, op, stored, float(timestamp),
                                                  {"file": self._file, "pos": log_pos})
        if self._dropped_origin is not None:
            for before, after in stored:
                self._record_keys(schema, table, records.row(before), records.row(after))
        return True

    def _record_keys(self, database: str, table: str, *images: dict[str, Any] | None) -> None:
        key = self._table_keys.get((database, table))
        if key is None:
            key = self._table_keys[(database, table)] = self._key_of(database, table)
        for image in images:
            if image is not None and key:
                self._keys.append(row_key(database, table, [image.get(column) for column in key]))

    def _query(self, event: QueryEvent) -> None:
        statement = _text(event.query).strip()
        if statement.upper() == "BEGIN":
            return
        if statement.upper() == "COMMIT":
            self._commit(event.packet.log_pos, event.timestamp)
            return
        self._native.spoil()  # a statement: not a row event
        pos = {"file": self._file, "pos": event.packet.log_pos}
        for entry in ddl.parse(statement, _text(event.schema)):
            if self._wanted(entry.database, entry.table) or (
                    entry.change.new_table and self._wanted(entry.database, entry.change.new_table)):
                change = _with_key(entry.change, self._key_of(entry.database, entry.change.new_table or entry.table))
                self._table_keys.pop((entry.database, entry.table), None)  # ALTER may change the key
                self._pending.append(records.ddl_fields(entry.database, entry.table, change.to_json(),
                                                        float(event.timestamp), pos))
        if self._standalone:
            self._commit(event.packet.log_pos, event.timestamp)

    def _commit(self, log_pos: int, timestamp: int) -> None:
        domain, server, seq = self._gtid
        self._gtids[domain] = (server, seq)
        here = positions.make(positions.format_gtid_state(self._gtids), self._file, log_pos)
        self._open = False
        if self._tagged:  # the peer's applier wrote it: it came from this task's destination
            self._pending = []
            self._peer_seen = max(self._peer_seen, self._peer_applied)
        if self._dropped_origin is not None:
            here["peer_seen"] = self._peer_seen
        if not self._pending:
            self._skipped_to = (here, float(timestamp))
            self._maybe_record_skipped()
            return
        native = self._native.native(self._reader.format_description) if self._reader is not None else None
        self._put(Transaction.recorded(self._pending, here, float(timestamp), tuple(self._keys), native))
        self._pending = []
        self._skipped_to = None
        self._emitted_at = time.monotonic()

    def _maybe_record_skipped(self) -> None:
        """Now and then, an empty transaction records that the stream is past unselected changes."""
        if self._skipped_to is not None and time.monotonic() - self._emitted_at >= EMPTY_EVERY_SECONDS:
            here, commit_time = self._skipped_to
            self._put(Transaction(events=(), position=here, commit_time=commit_time))
            self._skipped_to = None
            self._emitted_at = time.monotonic()

    def _put(self, transaction: Transaction) -> None:
        self._done.append(transaction)
        self._done_changes += transaction.change_count()


def _applied_seq(checkpoint_data: Any) -> int:
    """The applied change-log seq in a checkpoint row's `data` (0 when unreadable)."""
    try:
        return int(json.loads(checkpoint_data).get("applied_seq", 0))
    except (TypeError, ValueError, AttributeError):
        return 0


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _with_key(change: SchemaChange, key: tuple[str, ...]) -> SchemaChange:
    return SchemaChange(change.kind, change.body, change.new_table, key, change.dialect)
