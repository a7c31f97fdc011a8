"""redis-py clients for the control paths (precheck, heartbeat, verify), with clear errors."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from dtsctl.connectors.redis.address import address, describe
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

TIMEOUT_SECONDS = 10.0


def connect(endpoint: dict[str, Any], role: str, db: int = 0) -> redis.Redis:
    """A checked connection to one node (AUTH done, PING answered); a Sentinel-managed endpoint's
    current master."""
    host, port = address(endpoint, role)
    client = redis.Redis(host=host, port=port,
                         username=endpoint.get("user") or None, password=endpoint.get("password") or None,
                         db=db, protocol=2, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
                         retry=Retry(NoBackoff(), 0))
    check(client, endpoint, role)
    return client


def connect_cluster(endpoint: dict[str, Any], role: str) -> RedisCluster:
    try:
        return RedisCluster(host=endpoint.get("host") or "127.0.0.1", port=int(endpoint.get("port") or 6379),
                            username=endpoint.get("user") or None, password=endpoint.get("password") or None,
                            protocol=2, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
    except redis.AuthenticationError as exc:
        raise _auth_error(endpoint, role, exc) from None
    except redis.RedisError as exc:
        raise ConnectionFailure(f"cannot reach the {role} Redis Cluster at {describe(endpoint)}: {exc}") from None


def check(client: redis.Redis, endpoint: dict[str, Any], role: str) -> None:
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise _auth_error(endpoint, role, exc) from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise _auth_error(endpoint, role, exc) from None
        raise DtsError(f"the {role} Redis at {describe(endpoint)} refused PING: {exc}") from None
    except redis.ConnectionError as exc:
        raise ConnectionFailure(f"cannot connect to the {role} Redis at {describe(endpoint)}: {exc}") from None


def _auth_error(endpoint: dict[str, Any], role: str, exc: Exception) -> DtsError:
    what = f"user {endpoint.get('user')} and its password" if endpoint.get("user") else "the password"
    if not endpoint.get("password"):
        return DtsError(f"the {role} Redis at {describe(endpoint)} requires a password; "
                        "set `password` (and `user` for an ACL user) on the endpoint")
    return DtsError(f"the {role} Redis at {describe(endpoint)} refused {what} "
                    f"({str(exc).split(' ', 1)[0] or 'auth error'}); fix `user`/`password` of the endpoint")
