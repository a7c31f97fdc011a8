"""Where a Redis endpoint is now: its `host` and `port`, or the master its Sentinels name.

A Sentinel-managed endpoint (`sentinel: {hosts, master, password}`) is resolved on every
connection, so a reconnection after a failover reaches the promoted replica: the source then
asks it to continue the stream (PSYNC), the sink applies the next batch there.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from dtsctl.engine.errors import ConnectionFailure

SENTINEL_TIMEOUT_SECONDS = 5.0


def address(endpoint: dict[str, Any], role: str) -> tuple[str, int]:
    """(host, port) of the endpoint's Redis server, asking its Sentinels when it names some."""
    sentinel = endpoint.get("sentinel")
    if not sentinel:
        return endpoint.get("host") or "127.0.0.1", int(endpoint.get("port") or 6379)
    return master_address(sentinel, role)


def master_address(sentinel: dict[str, Any], role: str) -> tuple[str, int]:
    hosts = [split_host_port(host) for host in sentinel["hosts"]]
    options: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT_SECONDS,
                               "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS, "protocol": 2}
    if sentinel.get("password"):
        options["password"] = sentinel["password"]
    sentinels = Sentinel(hosts, sentinel_kwargs=options)
    try:
        host, port = sentinels.discover_master(sentinel["master"])
    except MasterNotFoundError:
        raise ConnectionFailure(
            f"no Sentinel of {describe_sentinel(sentinel)} knows a reachable master named {sentinel['master']}; "
            "check `sentinel.master` and that the Sentinels run (and `sentinel.password` if they require one)"
        ) from None
    except redis.RedisError as exc:
        raise ConnectionFailure(f"cannot ask the Sentinels {describe_sentinel(sentinel)} for the {role} "
                                f"master: {exc}") from None
    finally:
        for connection in sentinels.sentinels:
            connection.close()
    return str(host), int(port)


def split_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def describe_sentinel(sentinel: dict[str, Any]) -> str:
    return ", ".join(sentinel["hosts"])


def describe(endpoint: dict[str, Any]) -> str:
    """How messages name the endpoint: `host:port`, or the master name and its Sentinels."""
    sentinel = endpoint.get("sentinel")
    if sentinel:
        return f"{sentinel['master']} (Sentinels {describe_sentinel(sentinel)})"
    return f"{endpoint.get('host')}:{endpoint.get('port') or 6379}"
