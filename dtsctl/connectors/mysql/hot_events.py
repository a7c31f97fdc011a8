"""The binlog events every transaction carries, read straight from the packet bytes.

python-mysql-replication builds a `BinLogPacketWrapper` and an event object (header unpacked
field by field, status variables, filters) for every packet; for a single-row transaction that
is five packets (GTID, BEGIN or table map, table map, rows, XID) and most of the reader's time.
`HotStreamReader` reads the hot ones itself, from the bytes of the packet the library's
connection received:

- MariaDB GTID -> `Gtid`, XID -> `Xid`;
- a QUERY of `BEGIN` and a TABLE_MAP of a table id the library already mapped are skipped,
  which is what the library does with them (`freeze_schema`, and no event for BEGIN is used);
- WRITE/UPDATE/DELETE rows events (v1, v2) of a mapped table whose row decoder exists and
  whose images are FULL -> `Rows`, decoded lazily by that decoder.

The reader also keeps the stream's format description and each table id's last table map as
read, and each `Rows` its event's bytes, so that a destination of the same engine can apply the
source's row events itself (dtsctl.connectors.mysql.row_events).

Every other packet (rotate, heartbeat, format description, a new table map, DDL, an event with
extra header data, a table only the library decodes) is handed back to the library, which
reads it as before, so connection, reconnection, checksums, positions and rare events stay
the library's. The only state it keeps per event, the log position, is updated the same way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.connections import MAX_PACKET_LEN
from pymysql.constants import CR
from pymysql.protocol import MysqlPacket
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import BINLOG

from dtsctl.connectors.mysql.connection import Connection
from dtsctl.connectors.mysql.row_decoder import Decoders, StoredImages, TableDecoder

_HEADER = struct.Struct("<xIBIIIH")  # OK byte, then timestamp, type, server id, size, log pos, flags
_BODY = 1 + 19  # the OK byte and the event header
_GTID = struct.Struct("<QIB")  # seq_no, domain_id, flags
_ROWS: dict[int, tuple[str, int]] = {  # event type -> (operation, post-header length)
    BINLOG.WRITE_ROWS_EVENT_V1: ("insert", 8), BINLOG.UPDATE_ROWS_EVENT_V1: ("update", 8),
    BINLOG.DELETE_ROWS_EVENT_V1: ("delete", 8), BINLOG.WRITE_ROWS_EVENT_V2: ("insert", 10),
    BINLOG.UPDATE_ROWS_EVENT_V2: ("update", 10), BINLOG.DELETE_ROWS_EVENT_V2: ("delete", 10),
}
_QUERY_POST_HEADER = 13
_TABLE_MAP_POST_HEADER = 8
_SKIP = object()  # a packet read and dropped, as the library drops it


@dataclass(slots=True)
class Gtid:
    domain_id: int
    server_id: int
    gtid_seq_no: int
    flags: int


@dataclass(slots=True)
class Xid:
    log_pos: int
    timestamp: int


@dataclass(slots=True)
class Rows:
    """A rows event of a table with a row decoder; `images()` decodes its rows as the change log
    stores them (dtsctl.engine.records)."""

    schema: str
    table: str
    op: str
    log_pos: int
    timestamp: int
    table_id: int
    _decoder: TableDecoder
    _data: bytes
    _start: int
    _end: int

    @property
    def event(self) -> bytes:
        """The rows event as the source wrote it (its checksum included, if any)."""
        return self._data[1:]

    def images(self) -> list[StoredImages]:
        return self._decoder.decode(self._data, self._start, self._end, self.op)


class _HandedBack(Exception):
    """The library is done with the packet handed back to it and wants the next one."""


class _StreamConnection(Connection):
    """The library's binlog connection (and its control connection: one TLS context per process,
    dtsctl.connectors.mysql.connection), to which `HotStreamReader` hands back the packet (or
    the read error) it will not read itself: the library's next read gets it, the one after
    that raises `_HandedBack`, so that the hot reader reads the next packet again."""

    handed_back: list[MysqlPacket | BaseException] | None = None

    def read_payload(self) -> bytes:
        """The next packet's payload, read as `_read_packet` reads it (sequence check, packets of
        16 MiB and more joined, an error packet raised) but without building a `MysqlPacket` for
        it: at five packets a transaction that object was a tenth of the binlog thread's time."""
        if self._current_timeout != self._read_timeout:  # the library sets the socket's timeout
            return self._read_packet()._data
        chunks = []
        while True:
            header = self._read_bytes(4)
            length = header[0] | header[1] << 8 | header[2] << 16
            if header[3] != self._next_seq_id:
                self._force_close()
                if header[3] == 0:  # MariaDB's error packet when it shuts down
                    raise pymysql.err.OperationalError(CR.CR_SERVER_LOST,
                                                       "Lost connection to MySQL server during query")
                raise pymysql.err.InternalError(
                    f"Packet sequence number wrong - got {header[3]} expected {self._next_seq_id}")
            self._next_seq_id = (self._next_seq_id + 1) % 256
            chunk = self._read_bytes(length)
            if length < MAX_PACKET_LEN:
                break
            chunks.append(chunk)
        data = b"".join((*chunks, chunk)) if chunks else chunk
        if data[0] == 0xFF:
            MysqlPacket(data, self.encoding).raise_for_error()
        return data

    def _read_packet(self, packet_type: type = MysqlPacket) -> Any:
        if self.handed_back is None:
            return super()._read_packet(packet_type)
        if not self.handed_back:
            self.handed_back = None
            raise _HandedBack()
        item = self.handed_back.pop()
        if isinstance(item, BaseException):
            self.handed_back = None  # the library reconnects or raises: it reads on by itself
            raise item
        return item


class HotStreamReader(BinLogStreamReader):
    """A `BinLogStreamReader` that returns `Gtid`, `Xid` and `Rows` for the hot events
    (see the module's docstring) and the library's events for the rest."""

    def __init__(self, decoders: Decoders, **kwargs: Any) -> None:
        super().__init__(pymysql_wrapper=_StreamConnection, **kwargs)
        self._decoders = decoders
        self._schemas = kwargs.get("only_schemas")
        self.format_description = b""  # the stream's FORMAT_DESCRIPTION event, as read
        self.table_maps: dict[int, bytes] = {}  # table id -> its last TABLE_MAP event, as read

    def fetchone(self) -> Any:
        while True:
            connection = self._stream_connection if self._BinLogStreamReader__connected_stream else None
            if connection is None:  # (re)connecting is the library's
                return super().fetchone()
            connection.handed_back = None  # (the library may have returned an event without reading on)
            try:
                data = connection.read_payload()
            except pymysql.OperationalError as error:  # the library decides: reconnect or raise
                connection.handed_back = [error]
            else:
                event = self._hot(data) if data[0] == 0 and len(data) >= _BODY else None  # an OK packet: an event
                if event is _SKIP:
                    continue
                if event is not None:
                    return event
                connection.handed_back = [MysqlPacket(data, connection.encoding)]
            try:
                return super().fetchone()
            except _HandedBack:  # the library read it and returned nothing (a table map, a filtered event)
                continue

    def _hot(self, data: bytes) -> Any:
        timestamp, kind, server_id, _, log_pos, _ = _HEADER.unpack_from(data)
        end = len(data) - (4 if self._BinLogStreamReader__use_checksum else 0)
        if kind == BINLOG.MARIADB_GTID_EVENT:
            seq_no, domain_id, flags = _GTID.unpack_from(data, _BODY)
            event: Any = Gtid(domain_id, server_id, seq_no, flags)
        elif kind == BINLOG.XID_EVENT:
            event = Xid(log_pos, timestamp)
        elif kind == BINLOG.TABLE_MAP_EVENT:
            self._keep_table_map(data, end)
            known = self._post_header(kind, _TABLE_MAP_POST_HEADER) and _table_id(data) in self.table_map
            event = _SKIP if known else None
        elif kind == BINLOG.QUERY_EVENT:
            event = _SKIP if self._is_begin(data, end) else None
        elif kind in _ROWS:
            event = self._rows(data, kind, end, log_pos, timestamp)
        elif kind == BINLOG.FORMAT_DESCRIPTION_EVENT:
            self.format_description = data[1:]
            return None  # the library reads it too
        else:
            return None
        if event is not None and log_pos:
            self.log_pos = log_pos
        return event

    def _keep_table_map(self, data: bytes, end: int) -> None:
        """Keep a table map's event; the one kept already if only its header differs (its log
        position, time and checksum), so that a change-log record stores one object per map."""
        table_id = _table_id(data)
        kept = self.table_maps.get(table_id)
        body = data[_BODY:end]
        if kept is None or kept[_BODY - 1:len(kept) - (len(data) - end)] != body:
            self.table_maps[table_id] = data[1:]

    def _post_header(self, kind: int, length: int) -> bool:
        """True when the server declares the post-header length this module reads for `kind`."""
        declared = self._BinLogStreamReader__post_header_lengths
        return not declared or kind > len(declared) or declared[kind - 1] == length

    def _is_begin(self, data: bytes, end: int) -> bool:
        if not self._post_header(BINLOG.QUERY_EVENT, _QUERY_POST_HEADER):
            return False
        schema_length = data[_BODY + 8]
        status_length = int.from_bytes(data[_BODY + 11:_BODY + 13], "little")
        statement = _BODY + _QUERY_POST_HEADER + status_length + schema_length + 1
        return data[statement:end] == b"BEGIN"

    def _rows(self, data: bytes, kind: int, end: int, log_pos: int, timestamp: int) -> Rows | None:
        op, post_header = _ROWS[kind]
        if not self._post_header(kind, post_header):
            return None
        table_id = _table_id(data)
        table = self.table_map.get(table_id)
        if table is None or (self._schemas is not None and table.schema not in self._schemas):
            return None  # filtered out: the library drops it
        decoder = self._decoders.of(table_id, table)
        if decoder is None:
            return None
        pos = _BODY + 8
        if post_header == 10:
            if int.from_bytes(data[pos:pos + 2], "little") != 2:  # extra row info (NDB, partitions)
                return None
            pos += 2
        columns = data[pos]
        if columns >= 251 or columns != len(table.columns):  # (a length-coded count above 250)
            return None
        pos += 1
        size = (columns + 7) // 8
        for _ in range(2 if op == "update" else 1):
            if not decoder.full_image(data[pos:pos + size]):
                return None
            pos += size
        return Rows(table.schema, table.table, op, log_pos, timestamp, table_id, decoder, data, pos, end)


def _table_id(data: bytes) -> int:
    return int.from_bytes(data[_BODY:_BODY + 6], "little")
