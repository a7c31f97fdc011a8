"""The heartbeat key on the source: `SETEX dtsctl:heartbeat:<task id> <ttl> <unix time>`.

The write comes back through the replication stream, where the reader takes its
time and drops it (dtsctl: keys are never replicated).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from dtsctl.connectors.redis.client import connect
from dtsctl.connectors.redis.selection import HEARTBEAT_PREFIX
from dtsctl.engine.keyspace.interfaces import Heartbeat
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

TTL_SECONDS = 300


class RedisHeartbeat(Heartbeat):
    def __init__(self, endpoint: dict[str, Any], task_id: str) -> None:
        self.endpoint = endpoint
        self.key = HEARTBEAT_PREFIX + task_id
        self._client: redis.Redis | None = None
        self._read_only_logged = False

    def beat(self) -> bool:
        try:
            if self._client is None:
                self._client = connect(self.endpoint, "source")
            self._client.execute_command("SETEX", self.key, TTL_SECONDS, repr(time.time()))
            return True
        except redis.ReadOnlyError:
            if self.endpoint.get("sentinel"):  # a failover made it a replica: the next beat asks the Sentinels
                self.close()
                return False
            if not self._read_only_logged:
                self._read_only_logged = True
                log.warning("the source is read-only: no heartbeat can be written, so lag is unknown")
            return False
        except (redis.RedisError, DtsError) as exc:
            log.debug("heartbeat failed: %s", exc)
            self.close()
            return False

    def remove(self) -> None:
        client = connect(self.endpoint, "source")
        try:
            client.delete(self.key)
        except redis.ReadOnlyError:
            pass
        finally:
            client.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
