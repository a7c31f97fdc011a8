"""Connections to MySQL endpoints share one TLS context per process (pymysql builds one per
connection otherwise): TLS with a server that offers it, in the clear with one that does not."""

from __future__ import annotations

import ssl
import time
from typing import Any

from dtsctl.connectors.mysql.connection import connect, scalar
from dtsctl.connectors.mysql.localinfile import MemoryInfileConnection
from dtsctl.connectors.mysql.source import MysqlSource
from tests.integration.mysql.conftest import endpoint
from tests.servers.tls import TestCertificates


def test_connections_share_one_tls_context_and_connect_to_a_server_without_tls(pair: Any) -> None:
    plain = connect(endpoint(pair.source), "source")
    loading = connect(endpoint(pair.destination), "destination", MemoryInfileConnection)
    try:
        assert plain.ctx is loading.ctx
        assert scalar(plain, "SELECT 1") == 1 and scalar(loading, "SELECT 1") == 1
    finally:
        plain.close()
        loading.close()


def test_a_server_offering_tls_gets_it_without_the_system_ca_certificates(mariadb_factory, tmp_path: Any) -> None:
    """pymysql's preferred mode verifies nothing, so the shared context loads no CA certificates
    (they cost about 20 ms per process); the session, and the binlog stream read through it, are
    still encrypted."""
    files = TestCertificates.make(tmp_path)
    server = mariadb_factory(extra_args=[f"--ssl-cert={files.server_cert}", f"--ssl-key={files.server_key}"])
    server.execute("CREATE DATABASE tls")
    server.execute("CREATE TABLE tls.t (id INT PRIMARY KEY)")
    conn = connect(endpoint(server), "source")
    try:
        assert conn.ctx.cert_store_stats()["x509_ca"] == 0 and conn.ctx.verify_mode == ssl.CERT_NONE
        assert scalar(conn, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
                            " WHERE VARIABLE_NAME = 'SSL_CIPHER'")  # the server's side of it
    finally:
        conn.close()
    source = MysqlSource(endpoint(server), "task.tls")
    source.restrict(lambda database, table: database == "tls", frozenset({"tls"}))
    try:
        position = source.current_position()
        server.execute("INSERT INTO tls.t VALUES (1), (2)")
        read: list[Any] = []
        deadline = time.monotonic() + 20
        while not read and time.monotonic() < deadline:
            read = source.read_changes(position, 2000, 0.05)
        assert [change.after["id"] for tx in read for change in tx.events] == [1, 2]
        assert source._stream._reader._stream_connection._sock.cipher() is not None
    finally:
        source.close()
