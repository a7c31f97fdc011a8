"""Fencing a former owner of a task off a Redis destination (cluster runtime).

The fence key `dtsctl:fence:<task id>` (db 0) holds the fencing token of the task's
newest owner. At start an owner names its connection after the task, kills the
connections of former owners (same name), and stamps its token unless a larger
one is there. From then on its connection WATCHes the fence key and reads it,
sent in one pipeline right after each EXEC: Redis aborts the next transaction (a
batch with its checkpoint) when a successor stamped the key in between, before
any of its commands runs. Redis has no rollback, so an error inside EXEC would
come too late; an aborted EXEC changes nothing.
"""

from __future__ import annotations

import logging

from dtsctl.connectors.redis.resp import RedisReplyError, RespConnection, encode
from dtsctl.engine.checkpoint import check_fencing
from dtsctl.engine.errors import ConnectionFailure, FatalError

log = logging.getLogger(__name__)

FENCE_PREFIX = "dtsctl:fence:"
CLIENT_NAME_PREFIX = "dtsctl-"


def fence_key(task_id: str) -> str:
    return FENCE_PREFIX + task_id


class Fence:
    """The fencing token of this owner on its sink connection."""

    def __init__(self, task_id: str, token: int) -> None:
        self.key = fence_key(task_id)
        self.token = token
        self._newer: int | None = None  # a successor's token, once seen: nothing may be sent any more
        self._client_name = CLIENT_NAME_PREFIX + task_id
        # sent after each EXEC: keep watching the key, and read it (in db 0 even when EXEC was aborted)
        self.rewatch = encode((b"SELECT", 0)) + encode((b"WATCH", self.key)) + encode((b"GET", self.key))

    def take_over(self, conn: RespConnection) -> None:
        """Stop former owners' connections, stamp this owner's token, and start watching the key.
        FatalError when a newer owner already stamped it."""
        self._stop_former_owners(conn)
        try:
            conn.call("SELECT", 0)
            while True:
                conn.call("WATCH", self.key)
                check_fencing(_token(conn.call("GET", self.key)), self.token)
                conn.send(encode((b"MULTI",)) + encode((b"SET", self.key, self.token)) + encode((b"EXEC",)))
                replies = [conn.read_reply() for _ in range(3)]
                if isinstance(replies[2], list):
                    break  # else another owner stamped it meanwhile: look again
                if not all(isinstance(reply, (bytes, list, type(None))) for reply in replies):
                    raise RedisReplyError("; ".join(str(reply) for reply in replies))
        except RedisReplyError as exc:
            raise FatalError(f"the destination Redis at {conn.address} refused to fence this task's former "
                             f"owners ({exc}); the endpoint's user needs +watch +multi +exec +get +set on "
                             f"{FENCE_PREFIX}* keys (and +client to stop their connections)") from None
        conn.send(self.rewatch)
        self.check_rewatch(conn, committed=True)

    def check_still_owner(self) -> None:
        """FatalError once a newer token was seen: the watch, set again after seeing it, would no
        longer notice the successor."""
        check_fencing(self._newer, self.token)

    def check_rewatch(self, conn: RespConnection, committed: bool) -> None:
        """Read the replies of `rewatch`. FatalError when a newer owner stamped the key; when the
        transaction before was aborted by the watch for another reason (the key deleted or
        stamped again with this token), ConnectionFailure: the run starts over from its checkpoint."""
        replies = [conn.read_reply() for _ in range(3)]
        for reply in replies[:2]:
            if not isinstance(reply, bytes):
                raise ConnectionFailure(f"the destination Redis at {conn.address} did not watch the fence key "
                                        f"{self.key}: {reply!r:.200}")
        stored = _token(replies[2])
        if stored is not None and stored > self.token:
            self._newer = stored
        self.check_still_owner()
        if not committed:
            raise ConnectionFailure(f"the fence key {self.key} changed (now {stored}) while this owner "
                                    f"(token {self.token}) was writing: starting over from the checkpoint")

    def _stop_former_owners(self, conn: RespConnection) -> None:
        """Kill the task's other named connections: a frozen or cut-off former owner's."""
        try:
            conn.call("CLIENT", "SETNAME", self._client_name)
            own = int(conn.call("CLIENT", "ID"))
            listing = conn.call("CLIENT", "LIST", "TYPE", "normal").decode(errors="replace")
        except RedisReplyError as exc:  # fencing itself does not need it: the watch refuses its writes
            log.warning("cannot list the destination's connections to stop a former owner's (%s); "
                        "its transactions are refused by the fence key all the same", exc)
            return
        for line in listing.splitlines():
            fields = dict(part.split("=", 1) for part in line.split(" ") if "=" in part)
            if fields.get("name") == self._client_name and int(fields.get("id", own)) != own:
                log.warning("stopping connection %s of a former owner of this task", fields["id"])
                try:
                    conn.call("CLIENT", "KILL", "ID", fields["id"])
                except RedisReplyError as exc:  # it ended meanwhile, or the user may not kill
                    log.warning("could not stop connection %s: %s", fields["id"], exc)


def _token(value: bytes | None) -> int | None:
    return None if value is None else int(value)
