"""`LOAD DATA LOCAL INFILE` fed from memory: no temporary file, and no file of the agent's ever read.

pymysql answers a server's LOCAL INFILE request by opening whatever file name the server
names. `MemoryInfileConnection` answers it with the bytes handed to `load` instead, and with
an empty file when no load is under way, so a destination server can never read the agent's
files. (pymysql has no hook for this: the two overrides below follow its private
`_read_query_result` and `MySQLResult._read_load_local_packet`.)
"""

from __future__ import annotations

from typing import Any

import pymysql
from pymysql.connections import MySQLResult

from dtsctl.connectors.mysql.connection import Connection

PACKET_BYTES = 1 << 20  # data packets sent to the server; well under the protocol's 16 MB


class MemoryInfileConnection(Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._infile = memoryview(b"")
        super().__init__(*args, local_infile=True, **kwargs)

    def load(self, cursor: pymysql.cursors.Cursor, statement: str, data: bytes) -> int:
        """Run a LOAD DATA LOCAL `statement` on `cursor` with `data` as the file; rows affected."""
        self._infile = memoryview(data)
        try:
            return cursor.execute(statement)
        finally:
            self._infile = memoryview(b"")

    def _read_query_result(self, unbuffered: bool = False) -> int:
        self._result = None
        result = _MemoryInfileResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows

    def send_infile(self) -> None:
        """The pending load's bytes as data packets, then the empty packet that ends the file."""
        data, self._infile = self._infile, memoryview(b"")
        for start in range(0, len(data), PACKET_BYTES):
            self.write_packet(data[start:start + PACKET_BYTES])
        self.write_packet(b"")


class _MemoryInfileResult(MySQLResult):
    def _read_load_local_packet(self, first_packet: Any) -> None:
        connection: MemoryInfileConnection = self.connection
        connection.send_infile()
        ok_packet = connection._read_packet()  # raises the server's error, if the load failed
        self._read_ok_packet(ok_packet)
