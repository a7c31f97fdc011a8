"""Connections to MySQL endpoints share one TLS context per process (pymysql builds one per
connection otherwise), and still connect in the clear to a server that offers no TLS."""

from __future__ import annotations

from typing import Any

from dtsctl.connectors.mysql.connection import connect, scalar
from dtsctl.connectors.mysql.localinfile import MemoryInfileConnection
from tests.integration.mysql.conftest import endpoint


def test_connections_share_one_tls_context_and_connect_to_a_server_without_tls(pair: Any) -> None:
    plain = connect(endpoint(pair.source), "source")
    loading = connect(endpoint(pair.destination), "destination", MemoryInfileConnection)
    try:
        assert plain.ctx is loading.ctx
        assert scalar(plain, "SELECT 1") == 1 and scalar(loading, "SELECT 1") == 1
    finally:
        plain.close()
        loading.close()
