"""Delivery of subscription records to a Redis Stream (XADD), read anywhere with XREADGROUP.

Each entry has the fields `seq`, `op`, `object` and `record` (the JSON envelope).
The stream itself says how far delivery got (the `seq` of its last entry), so a
delivery that died between XADD and recording its cursor never adds an entry twice.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import redis

from dtsctl.connectors.redis.address import address, describe
from dtsctl.engine.errors import ConnectionFailure

CONNECT_TIMEOUT_SECONDS = 5.0


class RedisStreamTarget:
    def __init__(self, endpoint: dict[str, Any], stream: str) -> None:
        self.stream = stream
        self.name = f"redis {describe(endpoint)} stream {stream}"
        host, port = address(endpoint, "delivery")
        options: dict[str, Any] = {
            "host": host, "port": port,
            "username": endpoint.get("user"), "password": endpoint.get("password"),
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS, "socket_timeout": 30.0,
        }
        self.client: Any = redis.RedisCluster(**options) if endpoint.get("cluster") else redis.Redis(**options)

    def last_seq(self) -> int:
        """The seq of the stream's last entry (0 when empty or never written by dtsctl)."""
        with _errors(self.name):
            entries = self.client.xrevrange(self.stream, count=1)
        if not entries:
            return 0
        _, fields = entries[0]
        return int(fields.get(b"seq", b"0"))

    def add(self, records: Sequence[tuple[int, str, str, str]]) -> None:
        """XADD each (seq, op, object, JSON record), in order."""
        with _errors(self.name):
            pipeline = self.client.pipeline(transaction=False)
            for seq, op, obj, body in records:
                pipeline.xadd(self.stream, {"seq": seq, "op": op, "object": obj, "record": body})
            pipeline.execute()

    def close(self) -> None:
        self.client.close()


@contextlib.contextmanager
def _errors(name: str) -> Iterator[None]:
    try:
        yield
    except redis.AuthenticationError as exc:
        raise ConnectionFailure(f"{name} refused the credentials: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionFailure(f"cannot reach {name}: {exc}") from exc
