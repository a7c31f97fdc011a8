"""The source's own row events of a transaction, kept as read for a MySQL/MariaDB destination
that applies them itself with `BINLOG` statements (what `mysqlbinlog | mysql` does; the server
applies row events in C, where the SQL path touches every value in Python).

A transaction's events are the rows events of its selected tables, each statement's preceded by
the TABLE_MAP events it uses, with the stream's FORMAT_DESCRIPTION (which says how to read them,
checksums included). A transaction that cannot be carried exactly this way (a statement that is
not a row event, a statement cut off after a selected rows event) carries none, and is applied as
SQL. A `BINLOG` statement joins its transactions' source statements into one
(dtsctl.connectors.mysql._rowstatement): the destination opens and closes their tables once.
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Iterator, Mapping, Sequence

from dtsctl.connectors.mysql._rowstatement import one_statement

Native = tuple[bytes, tuple[bytes, ...]]  # (format description event, the transaction's table map and rows events)
Names = Mapping[tuple[str, str], tuple[str, str]]  # source (database, table) -> destination's

_HEADER = 19
_SIZE = struct.Struct("<I")  # an event's size, at offset 9 of its header
_TABLE_MAP = 19
_TABLE_MAP_BODY = _HEADER + 8  # after the table id and flags
_CRC32 = 1  # the format description's checksum algorithm
_STMT_END = 0x0001  # rows event flag: the statement's last rows event (the replica closes its tables)


class TransactionEvents:
    """Collects the events of the open transaction as the stream reads them."""

    def __init__(self) -> None:
        self._events: list[bytes] | None = []
        self._mapped: set[int] = set()  # table ids mapped in the open statement

    def begin(self) -> None:
        self._events = []
        self._mapped = set()

    def spoil(self) -> None:
        """The transaction holds something its own events cannot carry."""
        self._events = None

    def add(self, table_id: int, event: bytes, table_map: bytes | None) -> None:
        """A selected rows event (as read), after its table map if the statement has not mapped it yet."""
        if self._events is None:
            return
        if table_id not in self._mapped:
            if table_map is None:
                self._events = None
                return
            self._events.append(table_map)
            self._mapped.add(table_id)
        self._events.append(event)
        if int.from_bytes(event[_HEADER + 6:_HEADER + 8], "little") & _STMT_END:
            self._mapped.clear()

    def native(self, format_description: bytes) -> Native | None:
        """The transaction's events, or None if they cannot be applied as they are (a statement
        left open: its end was an event of a table not selected)."""
        if not self._events or self._mapped or not format_description:
            return None
        return format_description, tuple(self._events)


def renamed(natives: Sequence[Native], names: Names) -> list[Native]:
    """`natives` with their table maps naming the destination's tables (`names`; others unchanged),
    each rewritten map's size and checksum recomputed (once per distinct map)."""
    done: dict[bytes, bytes] = {}

    def table_map(event: bytes, checksum: int) -> bytes:
        new = done.get(event)
        if new is None:
            new = done[event] = _renamed_map(event, names, checksum)
        return new

    out = []
    for description, events in natives:
        checksum = 4 if _checksummed(description) else 0
        out.append((description, tuple(table_map(event, checksum) if event[4] == _TABLE_MAP else event
                                       for event in events)))
    return out


def _renamed_map(event: bytes, names: Names, checksum: int) -> bytes:
    at = _TABLE_MAP_BODY
    database = event[at + 1:at + 1 + event[at]]
    table_at = at + 1 + event[at] + 1
    table = event[table_at + 1:table_at + 1 + event[table_at]]
    rest = table_at + 1 + event[table_at]  # table name's terminating NUL onwards
    target = names.get((database.decode(), table.decode()))
    if target is None:
        return event
    new_database, new_table = (name.encode() for name in target)
    body = (event[:at] + bytes([len(new_database)]) + new_database + b"\0" + bytes([len(new_table)]) + new_table
            + event[rest:len(event) - checksum])
    body = body[:9] + _SIZE.pack(len(body) + checksum) + body[13:]
    return body + (struct.pack("<I", zlib.crc32(body)) if checksum else b"")


def _checksummed(description: bytes) -> bool:
    """Whether the events a format description describes end in a CRC32."""
    return description[-5] == _CRC32


def binlog_statements(natives: Sequence[Native], max_bytes: int) -> Iterator[str]:
    """`BINLOG` statements applying `natives` in order, each under `max_bytes` (whole transactions,
    a larger one alone) and joined into one source statement, each first preceded by a statement
    of its format description when it is not the previous one's."""
    described = b""
    run: list[bytes] = []
    size = 0
    budget = max_bytes * 3 // 4 - 64  # base64 grows by a third
    for description, events in natives:
        length = sum(map(len, events))
        if run and (description != described or size + length > budget):
            yield _statement(_one_statement(run, described))
            run, size = [], 0
        if description != described:
            yield _statement(description)
            described = description
        run.extend(events)
        size += length
    if run:
        yield _statement(_one_statement(run, described))


def _one_statement(events: list[bytes], description: bytes) -> bytes:
    """`events` as one source statement, or as they are if they cannot be (maps no rows event uses)."""
    try:
        return one_statement(events, _checksummed(description))
    except ValueError:
        return b"".join(events)


def _statement(events: bytes) -> str:
    return f"BINLOG '{base64.b64encode(events).decode('ascii')}'"
