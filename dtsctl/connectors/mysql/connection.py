"""Connecting to a MySQL/MariaDB endpoint, and turning driver errors into the engine's classes.

Every session runs in UTC (`time_zone = '+00:00'`) so TIMESTAMP values read on one
server and written on another, or decoded from the binlog, mean the same instant.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any, Iterator

import pymysql
from pymysql.constants import CLIENT

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

CONNECT_TIMEOUT_SECONDS = 10
PROBE_SECONDS = 3  # a server of an endpoint with replicas that does not answer this fast is passed over
# Strict, so a value the destination cannot hold fails loudly instead of being truncated;
# NO_AUTO_VALUE_ON_ZERO, so a copied key 0 stays 0.
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

# Client and server error numbers that mean "unavailable right now", worth retrying.
_TRANSIENT = {2002, 2003, 2006, 2013, 2055, 1040, 1053, 1205, 1213, 1927, 1290}
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044


class Connection(pymysql.connections.Connection):
    """pymysql's connection, with one TLS context per process for its default mode (TLS when the
    server offers it, the server's certificate not verified). pymysql builds that context anew for
    every connection with `ssl.create_default_context`, which loads the system's CA certificates,
    about 20 ms of CPU, only for a mode that verifies nothing with them: here it is built once,
    without them."""

    _preferred: ssl.SSLContext | None = None

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        if sslp:  # explicit TLS settings: built as pymysql builds them
            return super()._create_ssl_ctx(sslp)
        if Connection._preferred is None:  # two threads may both build one: either serves
            Connection._preferred = _unverified_context()
        return Connection._preferred


def _unverified_context() -> ssl.SSLContext:
    """What pymysql's preferred mode builds (a client context that checks neither the certificate
    nor the host name), minus the CA certificates it would never consult."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def quote(name: str) -> str:
    """An identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def address(endpoint: dict[str, Any]) -> str:
    return f"{endpoint.get('host') or '127.0.0.1'}:{endpoint.get('port') or 3306}"


def settings(endpoint: dict[str, Any]) -> dict[str, Any]:
    """pymysql keyword arguments for the endpoint (also what the binlog client takes). An endpoint
    that lists `replicas` resolves to whichever of its servers is writable now (DTS's dynamic
    endpoint detection): after a failover the agent's next connection, and its binlog stream,
    follow the promoted replica, which continues the GTID sequence."""
    host, port = writable_server(endpoint) if endpoint.get("replicas") else _declared(endpoint)
    return {**_credentials(endpoint), "host": host, "port": port}


def _declared(endpoint: dict[str, Any]) -> tuple[str, int]:
    return endpoint.get("host") or "127.0.0.1", int(endpoint.get("port") or 3306)


def _credentials(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {"user": endpoint.get("user") or "root", "password": endpoint.get("password") or "",
            "charset": "utf8mb4", "connect_timeout": CONNECT_TIMEOUT_SECONDS}


def writable_server(endpoint: dict[str, Any]) -> tuple[str, int]:
    """The first of the endpoint's host and replicas that answers and is not read-only."""
    candidates = [_declared(endpoint)]
    candidates += [(host, int(port)) for host, _, port in (replica.rpartition(":") for replica in endpoint["replicas"])]
    seen = []
    for host, port in candidates:
        try:
            conn = Connection(**{**_credentials(endpoint), "connect_timeout": PROBE_SECONDS}, host=host, port=port)
        except pymysql.err.OperationalError as exc:
            seen.append(f"{host}:{port} unreachable ({_reason(exc)})")
            continue
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT @@global.read_only")
                read_only = bool(cursor.fetchone()[0])
        finally:
            conn.close()
        if not read_only:
            return host, port
        seen.append(f"{host}:{port} read-only")
    raise ConnectionFailure(f"no writable server among the endpoint's host and replicas: {'; '.join(seen)}")


def connect(endpoint: dict[str, Any], role: str,
            connection_class: type[Connection] = Connection) -> pymysql.Connection:
    """An autocommit session in UTC with strict SQL mode; `rowcount` counts matched rows."""
    with translate_errors(role, endpoint):
        conn = connection_class(**settings(endpoint), autocommit=True, client_flag=CLIENT.FOUND_ROWS)
        with conn.cursor() as cursor:
            cursor.execute(f"SET SESSION time_zone = '+00:00', SESSION sql_mode = '{SESSION_SQL_MODE}'")
    return conn


@contextlib.contextmanager
def translate_errors(role: str, endpoint: dict[str, Any]) -> Iterator[None]:
    """ConnectionFailure for an unreachable server, DtsError for rejected credentials."""
    try:
        yield
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (ER_ACCESS_DENIED, ER_DBACCESS_DENIED):
            raise DtsError(
                f"{role} {address(endpoint)} rejected user '{endpoint.get('user')}' (wrong password, or the "
                "user does not exist for this host); fix the endpoint's `user`/`password`"
            ) from exc
        if code in _TRANSIENT or isinstance(exc, pymysql.err.InterfaceError):
            raise ConnectionFailure(f"{role} {address(endpoint)} is unavailable: {_reason(exc)}") from exc
        raise
    except pymysql.err.InterfaceError as exc:
        raise ConnectionFailure(f"{role} {address(endpoint)} connection was lost: {_reason(exc)}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise ConnectionFailure(f"{role} {address(endpoint)} is unavailable: {exc}") from exc


def error_code(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def _reason(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    return str(args[1]) if len(args) > 1 else str(exc) or type(exc).__name__


def query(conn: pymysql.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def scalar(conn: pymysql.Connection, sql: str, args: Any = None) -> Any:
    rows = query(conn, sql, args)
    return rows[0][0] if rows else None
