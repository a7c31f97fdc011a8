"""Where a Redis endpoint is now: its `host` and `port`, or the master its Sentinels name.

A Sentinel-managed endpoint (`sentinel: {hosts, master, password}`) is resolved on every
connection, so a reconnection after a failover reaches the promoted replica: the source then
asks it to continue the stream (PSYNC), the sink applies the next batch there.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.sentinel import Sentinel

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

SENTINEL_TIMEOUT_SECONDS = 5.0


def address(endpoint: dict[str, Any], role: str) -> tuple[str, int]:
    """(host, port) of the endpoint's Redis server, asking its Sentinels when it names some."""
    sentinel = endpoint.get("sentinel")
    if not sentinel:
        return endpoint.get("host") or "127.0.0.1", int(endpoint.get("port") or 6379)
    return master_address(sentinel, role)


def master_address(sentinel: dict[str, Any], role: str) -> tuple[str, int]:
    """The master's address from the first Sentinel that sees it up (as redis-py's
    `Sentinel.discover_master`), with a message that tells unreachable Sentinels, a refused
    password and an unknown master name apart."""
    hosts = [split_host_port(host) for host in sentinel["hosts"]]
    options: dict[str, Any] = {"socket_timeout": SENTINEL_TIMEOUT_SECONDS,
                               "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS, "protocol": 2}
    if sentinel.get("password"):
        options["password"] = sentinel["password"]
    sentinels = Sentinel(hosts, sentinel_kwargs=options)
    name, answered, monitored = sentinel["master"], 0, set()
    try:
        for client in sentinels.sentinels:
            try:
                masters = client.sentinel_masters()
            except (redis.AuthenticationError, redis.ResponseError):
                if sentinel.get("password"):
                    raise DtsError(f"the Sentinels {describe_sentinel(sentinel)} of the {role} refused the "
                                   "password; fix `sentinel.password` of the endpoint") from None
                raise DtsError(f"the Sentinels {describe_sentinel(sentinel)} of the {role} require a password; "
                               "set `sentinel.password` on the endpoint") from None
            except redis.RedisError:
                continue
            answered += 1
            monitored |= set(masters)
            state = masters.get(name)
            if state and sentinels.check_master_state(state, name):
                return str(state["ip"]), int(state["port"])
    finally:
        for client in sentinels.sentinels:
            client.close()
    if not answered:
        raise ConnectionFailure(f"cannot reach any Sentinel of the {role} ({describe_sentinel(sentinel)}); "
                                "check `sentinel.hosts` and that the Sentinels run")
    if name not in monitored:
        raise DtsError(f"the Sentinels {describe_sentinel(sentinel)} of the {role} monitor no master named {name} "
                       f"(they monitor: {', '.join(sorted(monitored)) or 'none'}); fix `sentinel.master`")
    raise ConnectionFailure(f"the Sentinels {describe_sentinel(sentinel)} see the {role} master {name} down "
                            "(a failover may be under way)")


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
