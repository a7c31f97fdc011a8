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

The connection reads the socket ahead, as much as it has, and `_binlogscan` (compiled) frames
those packets and sorts the hot events in one call: a table map seen before and a BEGIN cost no
Python at all, a GTID or XID one tuple. The packet it stops at (any other event, an incomplete
or very large packet, an error) is read from the bytes read ahead by the packet-at-a-time path
above, which the library's own reads also go through.
"""

from __future__ import annotations

import collections
import errno
import select
import struct
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.connections import MAX_PACKET_LEN
from pymysql.constants import CR
from pymysql.protocol import MysqlPacket
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import BINLOG

from dtsctl.connectors.mysql import _binlogscan
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
# What one socket read may bring ahead; a packet longer than this is read by the packet path.
READ_AHEAD = 256 * 1024


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
    _ahead = b""  # bytes read from the socket beyond the packets taken so far
    _poller: Any = None  # watches the socket for `arriving`; made on first use, after any TLS handshake

    def arriving(self, timeout: float) -> bool:
        """True when bytes were read ahead, or the socket has some within `timeout` seconds."""
        if self._ahead:
            return True
        if self._sock is None:
            return False
        if self._poller is None:
            self._poller = select.poll()  # not select(): it refuses a descriptor numbered above 1023
            self._poller.register(self._sock, select.POLLIN)
        return bool(self._poller.poll(max(0, int(timeout * 1000))))

    def scan(self, checksum: int, kept_maps: dict[int, bytes], mapped: dict[int, Any],
             schemas: frozenset[bytes] | None) -> tuple[list[tuple[Any, ...]], bytes, int]:
        """`_binlogscan.scan` of the bytes read ahead, after reading more if they hold no whole packet
        short enough to read ahead: (its items, the bytes their offsets index, the last log position)."""
        buffer = self._ahead
        if len(buffer) < 4 or len(buffer) < 4 + (buffer[0] | buffer[1] << 8 | buffer[2] << 16) <= READ_AHEAD:
            buffer += self._receive()
        items, taken, self._next_seq_id, log_pos = _binlogscan.scan(buffer, self._next_seq_id, checksum,
                                                                    kept_maps, mapped, schemas)
        self._ahead = buffer[taken:]
        return items, buffer, log_pos

    def _receive(self) -> bytes:
        """What the socket has now (at least a byte: waits for one), with `_read_bytes`'s errors."""
        if self._current_timeout != self._read_timeout:
            self._sock.settimeout(self._read_timeout)
            self._current_timeout = self._read_timeout
        while True:
            try:
                data = self._rfile.read1(READ_AHEAD)
                break
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                self._force_close()
                raise pymysql.err.OperationalError(CR.CR_SERVER_LOST,
                                                   f"Lost connection to MySQL server during query ({error})")
            except BaseException:
                self._force_close()
                raise
        if not data:
            self._force_close()
            raise pymysql.err.OperationalError(CR.CR_SERVER_LOST, "Lost connection to MySQL server during query")
        return data

    def _read_bytes(self, num_bytes: int) -> bytes:
        """The bytes read ahead first, then the socket's."""
        ahead = self._ahead
        if not ahead:
            return super()._read_bytes(num_bytes)
        if len(ahead) >= num_bytes:
            self._ahead = ahead[num_bytes:]
            return ahead[:num_bytes]
        self._ahead = b""
        return ahead + super()._read_bytes(num_bytes - len(ahead))

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
        self._selected = None if self._schemas is None else frozenset(name.encode() for name in self._schemas)
        self.format_description = b""  # the stream's FORMAT_DESCRIPTION event, as read
        self.table_maps: dict[int, bytes] = {}  # table id -> its last TABLE_MAP event, as read
        # Scanned ahead, in stream order: hot events, and packets (bytes) for the library to read
        self._ready: collections.deque[Any] = collections.deque()

    def fetchone(self) -> Any:
        while True:
            connection = self._stream_connection if self._BinLogStreamReader__connected_stream else None
            if connection is None:  # (re)connecting is the library's
                return super().fetchone()
            connection.handed_back = None  # (the library may have returned an event without reading on)
            if self._ready:
                event = self._ready.popleft()
                if type(event) is not bytes:
                    return event
                connection.handed_back = [MysqlPacket(event, connection.encoding)]
            else:
                try:
                    if self._scannable() and self._scan(connection):
                        continue
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

    def arriving(self, timeout: float) -> bool:
        """True when the next event was read ahead, or its bytes arrive within `timeout` seconds.
        False may be wrong (bytes buffered by the library or by TLS): a caller deciding whether to
        read on then only hands over what it has sooner."""
        if self._ready:
            return True
        return bool(self._BinLogStreamReader__connected_stream) and self._stream_connection.arriving(timeout)

    def _scan(self, connection: _StreamConnection) -> bool:
        """Queue the hot events of the packets read ahead (see the module's docstring); False when
        the next packet is for the packet-at-a-time path."""
        checksum = 4 if self._BinLogStreamReader__use_checksum else 0
        items, buffer, log_pos = connection.scan(checksum, self.table_maps, self.table_map, self._selected)
        if log_pos:
            self.log_pos = log_pos
        ready = self._ready
        for item in items:
            kind = item[0]
            if kind == BINLOG.MARIADB_GTID_EVENT:
                ready.append(Gtid(item[5], item[3], item[4], item[6]))
            elif kind == BINLOG.XID_EVENT:
                ready.append(Xid(item[1], item[2]))
            else:
                _, log_pos, timestamp, start, end, table_id = item
                data = buffer[start:end]
                rows = self._rows(data, kind, end - start - checksum, log_pos, timestamp, table_id)
                ready.append(data if rows is None else rows)
        return bool(items) or len(connection._ahead) < len(buffer)

    def _scannable(self) -> bool:
        """True when the server declares the post-header lengths `_binlogscan` reads."""
        return (self._post_header(BINLOG.QUERY_EVENT, _QUERY_POST_HEADER)
                and self._post_header(BINLOG.TABLE_MAP_EVENT, _TABLE_MAP_POST_HEADER)
                and all(self._post_header(kind, length) for kind, (_, length) in _ROWS.items()))

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

    def _rows(self, data: bytes, kind: int, end: int, log_pos: int, timestamp: int,
              table_id: int | None = None) -> Rows | None:
        op, post_header = _ROWS[kind]
        if not self._post_header(kind, post_header):
            return None
        if table_id is None:
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
