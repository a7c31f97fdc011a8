"""The Redis sink for a standalone destination: one MULTI/EXEC per batch, checkpoint included.

The batch's payloads are sent as they are in the change log (each starts with
its SELECT), followed by `SELECT 0` and `SET dtsctl:checkpoint:<task id>` (and,
for a direction of a two-way pair, `SET dtsctl:origin:<tag>`, its origin marker), all
inside one MULTI/EXEC: Redis applies a transaction whole or not at all (short of
running out of memory midway), so after a crash the checkpoint names exactly
the last batch applied.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Sequence

import hiredis

from dtsctl.connectors.redis.fencing import Fence, fence_key
from dtsctl.connectors.redis.resp import RespConnection, encode, open_connection
from dtsctl.connectors.redis.selection import CHECKPOINT_PREFIX, OWN_PREFIX, origin_key
from dtsctl.engine.errors import ConnectionFailure, FatalError
from dtsctl.engine.keyspace.interfaces import Applied, Batch, Command, KeyspaceSink
from dtsctl.engine.task import TaskSpec

SCAN_COUNT = 1000
REPLY_TIMEOUT_SECONDS = 120.0
_MULTI = encode((b"MULTI",))
_EXEC = encode((b"EXEC",))
_MULTI_OK, _QUEUED = b"+OK\r\n", b"+QUEUED\r\n"


def glob_escape(prefix: str) -> str:
    """A prefix as a literal SCAN MATCH pattern (followed by *)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"


# Commands the source propagates only when they found the key: on the destination, a 0 reply
# (or "no such key") means the key expired there before the source's write reached it.
_NEEDS_KEY = frozenset({b"pexpireat", b"pexpire", b"expireat", b"expire", b"persist"})
# The start of one of those commands in RESP (any case); found in a value too, which only costs a decode.
_NEEDS_KEY_SENT = re.compile(b"\\*[0-9]+\r\n(?:" + b"|".join(re.escape(b"$%d\r\n%b\r\n" % (len(name), name))
                                                     for name in sorted(_NEEDS_KEY)) + b")", re.IGNORECASE)


def may_need_key(payloads: Sequence[bytes]) -> bool:
    """Whether stored payloads may hold a command whose 0 reply means its key was gone."""
    return any(_NEEDS_KEY_SENT.search(payload) for payload in payloads)


def command_results(commands: Callable[[], Sequence[Command]], results: list[Any],
                    needs_key: Callable[[], bool] = lambda: True) -> Applied:
    """The commands of an EXEC reply that were refused, and those that found their key gone;
    `commands` gives what was sent, asked for only when some reply is an error, or a 0 where
    `needs_key` says a command that needs its key may have been sent (decoding a stream batch
    costs more than applying it)."""
    applied = Applied()
    if results.count(b"OK") == len(results):  # the usual case, every snapshot batch: nothing to look at
        return applied
    if not any(type(result) is hiredis.ReplyError for result in results) and not (0 in results and needs_key()):
        return applied
    for command, result in zip(commands(), results):
        name = command.args[0].lower()
        if isinstance(result, hiredis.ReplyError) and "no such key" in str(result):
            applied.vanished.append((command.db, command.args[1]))
        elif isinstance(result, hiredis.ReplyError):
            key = command.args[1].decode(errors="replace") if len(command.args) > 1 else ""
            applied.errors.append(f"{name.decode(errors='replace').upper()} {key} in db {command.db}: {result}")
        elif name in _NEEDS_KEY and result == 0:
            applied.vanished.append((command.db, command.args[1]))
    return applied


def raise_for_aborted(reply: Any, queued: list[str], address: str) -> None:
    """EXEC refused the whole transaction: nothing of the batch was applied."""
    detail = "; ".join(queued) or str(reply)
    if "OOM" in detail:
        raise ConnectionFailure(f"the destination Redis at {address} is out of memory (maxmemory): {detail}")
    if "READONLY" in detail:  # a failover made it a replica: reconnecting finds the new master
        raise ConnectionFailure(f"the destination Redis at {address} is now a read-only replica: {detail}")
    raise FatalError(f"the destination Redis at {address} refused a batch: {detail}")


class RedisSink(KeyspaceSink):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.checkpoint_key = CHECKPOINT_PREFIX + spec.task_id
        self.origin_key = origin_key(spec.origin) if spec.origin else None
        self._marker = encode((b"SET", self.origin_key, b"1")) if self.origin_key else b""
        self._conn: RespConnection | None = None
        self._fence: Fence | None = None

    @property
    def conn(self) -> RespConnection:
        if self._conn is None:
            self._conn = open_connection(self.endpoint, "destination")
            self._conn.switch_to_replies()
            self._conn.settimeout(REPLY_TIMEOUT_SECONDS)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def check_connection(self) -> None:
        self.conn.call("PING")

    def load_checkpoint(self) -> dict[str, Any] | None:
        self.conn.call("SELECT", 0)
        raw = self.conn.call("GET", self.checkpoint_key)
        return None if raw is None else json.loads(raw)

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._fence is not None:
            self._transaction([encode((b"SELECT", 0)), encode((b"SET", self.checkpoint_key, json.dumps(checkpoint)))], 2)
            return
        self.conn.call("SELECT", 0)
        self.conn.call("SET", self.checkpoint_key, json.dumps(checkpoint))

    def delete_checkpoint(self) -> None:
        self.conn.call("SELECT", 0)
        self.conn.call("DEL", self.checkpoint_key, fence_key(self.spec.task_id),
                       *([self.origin_key] if self.origin_key else []))

    def fence(self, token: int) -> None:
        """Cluster runtime: stop a former owner's connections and make every later transaction of
        this sink commit only while no newer owner stamped the task's fence key
        (dtsctl.connectors.redis.fencing)."""
        fence = Fence(self.spec.task_id, token)
        fence.take_over(self.conn)
        self._fence = fence

    def apply(self, batch: Batch, checkpoint: dict[str, Any]) -> Applied:
        # The origin marker carries the change-log seq applied, which the peer's reader reads back
        # as how far this side had received its changes (dtsctl.engine.keyspace.conflicts).
        marker = encode((b"SET", self.origin_key, checkpoint["applied_seq"])) if self.origin_key else b""
        tail = encode((b"SELECT", 0)) + encode((b"SET", self.checkpoint_key, json.dumps(checkpoint))) + marker
        results = self._transaction([*(payload for _, payload in batch.payloads), tail],
                                    batch.size + 2 + bool(marker))  # + SELECT, SET
        return command_results(lambda: batch.commands, results,
                               lambda: may_need_key([payload for _, payload in batch.payloads]))

    def _transaction(self, parts: list[bytes], queued: int) -> list[Any]:
        """Run the `queued` commands of `parts` in one MULTI/EXEC and return EXEC's replies. With a
        fence (cluster runtime), Redis aborts it when a newer owner stamped the fence key, and
        this owner stops."""
        conn, fence = self.conn, self._fence
        if fence is not None:
            fence.check_still_owner()
        conn.send(b"".join([_MULTI, *parts, _EXEC, fence.rewatch if fence else b""]))
        conn.skip_replies(_MULTI_OK + _QUEUED * queued)
        errors: list[str] = []
        while True:
            reply = conn.read_reply()
            if isinstance(reply, list):
                break
            if isinstance(reply, hiredis.ReplyError):
                if str(reply).startswith("EXECABORT"):
                    raise_for_aborted(reply, errors, conn.address)
                errors.append(str(reply))
            elif reply is None:
                if fence is None:
                    raise_for_aborted("EXEC returned nothing", errors, conn.address)
                break
        if fence is not None:
            fence.check_rewatch(conn, committed=reply is not None)
        return reply

    def clear(self, db: int, prefixes: Sequence[str] | None) -> int:
        conn = self.conn
        conn.call("SELECT", db)
        deleted = 0
        for pattern in [glob_escape(p) for p in prefixes] if prefixes is not None else ["*"]:
            cursor = b"0"
            while True:
                cursor, keys = conn.call("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
                doomed = [key for key in keys if not key.startswith(OWN_PREFIX)]
                if doomed:
                    deleted += self._unlink(db, doomed)
                if cursor == b"0":
                    break
        return deleted

    def _unlink(self, db: int, keys: list[bytes]) -> int:
        """Delete `keys` in `db`; tagged with the origin marker when this task has one, and refused
        to a fenced former owner. Leaves the connection in `db` (SCAN goes on there)."""
        if self.origin_key is None and self._fence is None:
            return int(self.conn.call("UNLINK", *keys))
        marker = encode((b"SELECT", 0)) + self._marker + encode((b"SELECT", db)) if self._marker else b""
        results = self._transaction([encode((b"UNLINK", *keys)), marker], 1 + 3 * bool(marker))
        if self._fence is not None:
            self.conn.call("SELECT", db)  # the fence's watch left the connection in db 0
        return int(results[0])
