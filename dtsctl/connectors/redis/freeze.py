"""Freezing writes on a Redis source for a cutover: CLIENT PAUSE WRITE.

Redis runs MULTI/EXEC blocks and scripts whole, so once the pause is in force no write is
half done, and the replication offset read then is where the stream ends (a paused primary
also stops pinging its replicas). The pause is given an end of its own (PAUSE_SECONDS), so a
cutover that dies midway cannot leave the source frozen; it is lifted when the cutover ends.
"""

from __future__ import annotations

from typing import Any

from dtsctl.connectors.redis.client import connect
from dtsctl.engine.events import Position

PAUSE_SECONDS = 300


class RedisFreeze:
    def __init__(self, endpoint: dict[str, Any]) -> None:
        self._client = connect(endpoint, "source")
        self._client.execute_command("CLIENT", "PAUSE", PAUSE_SECONDS * 1000, "WRITE")
        self.final_position = replication_position(self._client)
        self.describe = f"replication offset {self.final_position['offset']}"

    def unfreeze(self) -> None:
        try:
            self._client.execute_command("CLIENT", "UNPAUSE")
        finally:
            self._client.close()

    def leave_frozen(self) -> None:
        """The pause ends by itself (PAUSE_SECONDS); a cutover declaration always unfreezes a Redis source."""
        self._client.close()


def replication_position(client: Any) -> Position:
    """Where the server's replication stream is now, in the form the reader's positions take."""
    info = client.info("replication")
    return {"replid": info.get("master_replid"), "offset": int(info.get("master_repl_offset", 0))}


def source_position(endpoint: dict[str, Any]) -> Position:
    client = connect(endpoint, "source")
    try:
        return replication_position(client)
    finally:
        client.close()
