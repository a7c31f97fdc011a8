"""The replica side of Redis replication: handshake, PSYNC, the RDB transfer, the command stream.

Checked against Redis 7.0: after `REPLCONF listening-port`, `REPLCONF capa psync2`
and `PSYNC`, the primary answers `+FULLRESYNC <replid> <offset>` and sends the
RDB as `$<len>\\r\\n<bytes>` (newlines before it are keepalives while it saves),
or `+CONTINUE [<new replid>]`. Then every write arrives as a RESP array; each
array's exact size advances the replication offset.

Announcing `capa eof` lets the primary stream the RDB as its child writes it
(`$EOF:<40-byte mark>\\r\\n<bytes><mark>`, "diskless"): the walk then runs while the
RDB is produced, and the primary starts the command stream once the first
`REPLCONF ACK` arrives. It is announced only when the primary is set for
diskless sync with no delay (`streams_snapshot`); otherwise the primary would
wait `repl-diskless-sync-delay` seconds (5 by default) for other replicas, and a
disk-based RDB, sent once saved, starts sooner.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

import hiredis
import redis

from dtsctl.connectors.redis.client import connect
from dtsctl.connectors.redis.resp import RedisReplyError, RespConnection, encode, encoded_length, open_connection
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

ACK_EVERY_SECONDS = 1.0
STREAM_TIMEOUT_SECONDS = 60.0  # the primary pings every 10 s by default; silence this long means it is gone
LISTENING_PORT = 0  # nothing listens: the port is only what INFO replication shows
EOF_MARK_BYTES = 40


@dataclass(frozen=True)
class PsyncReply:
    full: bool
    replid: str
    offset: int  # a full resync's stream starts after this offset; a continue resumes after ours


class ReplicaConnection:
    def __init__(self, endpoint: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.conn: RespConnection = open_connection(endpoint, "source")
        self._acked_at = 0.0
        self._heard_at = time.monotonic()
        self._eof_mark: bytes | None = None  # a diskless RDB ends with it
        self._received = b""  # stream bytes not yet matched to a command

    def close(self) -> None:
        self.conn.close()

    def psync(self, replid: str | None, offset: int | None, diskless: bool = False) -> PsyncReply:
        """Handshake and ask to continue after (replid, offset), or for a full resync (streamed
        as the primary writes it when `diskless`)."""
        try:
            self.conn.call("REPLCONF", "listening-port", LISTENING_PORT)
            self.conn.call("REPLCONF", *(("capa", "eof") if diskless else ()), "capa", "psync2")
        except RedisReplyError as exc:
            raise _refused(exc, self.conn.address) from None
        wanted = ("PSYNC", replid, offset + 1) if replid and offset is not None else ("PSYNC", "?", -1)
        self.conn.send(encode(wanted))
        line = self.conn.read_line().decode(errors="replace")
        while line == "":  # keepalive newlines
            line = self.conn.read_line().decode(errors="replace")
        if line.startswith("+FULLRESYNC"):
            _, new_replid, start = line.split()
            return PsyncReply(True, new_replid, int(start))
        if line.startswith("+CONTINUE"):
            parts = line.split()
            return PsyncReply(False, parts[1] if len(parts) > 1 else str(replid), int(offset or 0))
        if line.startswith("-NOPERM"):
            raise _refused(RedisReplyError(line[1:]), self.conn.address)
        raise ConnectionFailure(f"the source Redis at {self.conn.address} cannot serve replication now: {line[1:]}")

    def rdb_length(self) -> int | None:
        """Wait for the RDB header; the primary may take a while to produce the file. None: a
        diskless RDB, whose length is unknown (it ends where its end marker is, `end_diskless`)."""
        self.conn.settimeout(STREAM_TIMEOUT_SECONDS)
        while True:
            try:
                line = self.conn.read_line()
            except socket.timeout:
                raise ConnectionFailure(f"the source Redis at {self.conn.address} sent no snapshot for "
                                        f"{STREAM_TIMEOUT_SECONDS:.0f}s") from None
            if line.startswith(b"$"):
                if line.startswith(b"$EOF:"):
                    self._eof_mark = line[5:]
                    if len(self._eof_mark) != EOF_MARK_BYTES:
                        raise DtsError(f"the source sent a diskless snapshot header dtsctl cannot read: {line!r:.80}")
                    return None
                self._eof_mark = None
                return int(line[1:])
            if line.startswith(b"-"):
                raise ConnectionFailure(f"the source Redis at {self.conn.address} failed the snapshot: "
                                        f"{line[1:].decode(errors='replace')}")

    def rdb_bytes(self, limit: int) -> bytes:
        try:
            return self.conn.take(limit)
        except socket.timeout:
            raise ConnectionFailure(f"the snapshot transfer from {self.conn.address} stalled for "
                                    f"{STREAM_TIMEOUT_SECONDS:.0f}s") from None

    def end_diskless(self, after_rdb: bytes, offset: int) -> None:
        """Check the mark that ends a diskless RDB (`after_rdb`: the bytes already read past the
        RDB's own end), keep whatever follows it for the stream, and ACK `offset` (where the stream
        starts): the primary sends the stream only after that first ACK."""
        assert self._eof_mark is not None
        while len(after_rdb) < EOF_MARK_BYTES:
            after_rdb += self.rdb_bytes(EOF_MARK_BYTES - len(after_rdb))
        if after_rdb[:EOF_MARK_BYTES] != self._eof_mark:
            raise DtsError("the diskless snapshot from the source did not end with its end mark; the RDB is corrupt")
        self.conn.unread(after_rdb[EOF_MARK_BYTES:])
        self._eof_mark = None
        self.ack(offset, force=True)

    def start_stream(self, poll_seconds: float) -> None:
        self._received = self.conn.switch_to_replies()
        self.conn.settimeout(poll_seconds)
        self._heard_at = time.monotonic()

    def commands(self, wait: bool = True) -> list[tuple[list[bytes], bytes]]:
        """Commands that arrived within the poll timeout (possibly none), each with its bytes as
        received (its RESP array: their sizes advance the offset, and a command passed on
        unchanged is not encoded again); without `wait`, only what is already readable."""
        if not wait and not select.select([self.conn.sock], [], [], 0)[0]:
            return []
        data, replies = self.conn.poll_replies()
        now = time.monotonic()
        if replies:
            self._heard_at = now
        elif now - self._heard_at > STREAM_TIMEOUT_SECONDS:
            raise ConnectionFailure(f"the source Redis at {self.conn.address} sent nothing, not even a ping, "
                                    f"for {STREAM_TIMEOUT_SECONDS:.0f}s")
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError) or not isinstance(reply, list):
                raise ConnectionFailure(f"unexpected data in the replication stream from {self.conn.address}: "
                                        f"{reply!r:.200}")
        return self._with_bytes(replies, data)

    def _with_bytes(self, replies: list[list[bytes]], data: bytes) -> list[tuple[list[bytes], bytes]]:
        """Each parsed command with its slice of the received bytes."""
        received = self._received + data if data else self._received
        commands, start = [], 0
        for args in replies:
            end = start + encoded_length(args)
            if received[start:start + 1] != b"*" or end > len(received):
                raise ConnectionFailure(f"the replication stream from {self.conn.address} is not made of "
                                        f"RESP arrays as dtsctl reads them (at {received[start:start + 40]!r})")
            commands.append((args, received[start:end]))
            start = end
        self._received = received[start:]
        return commands

    def ack(self, offset: int, force: bool = False) -> None:
        """`REPLCONF ACK <offset>` about once a second (or now when forced, e.g. on GETACK)."""
        now = time.monotonic()
        if force or now - self._acked_at >= ACK_EVERY_SECONDS:
            self.conn.send(encode(("REPLCONF", "ACK", offset)))
            self._acked_at = now


def streams_snapshot(endpoint: dict[str, Any]) -> bool:
    """Whether the source sends a diskless RDB without waiting: `repl-diskless-sync yes` with
    `repl-diskless-sync-delay 0`, or `repl-diskless-sync-max-replicas 1` (it starts once one
    replica waits). False when CONFIG may not be read: a disk-based RDB is what every primary
    sends at once."""
    try:
        client = connect(endpoint, "source")
        try:
            config = client.config_get("repl-diskless-sync*")
        finally:
            client.close()
    except (redis.RedisError, DtsError):
        return False
    return config.get("repl-diskless-sync") == "yes" and (config.get("repl-diskless-sync-delay") == "0"
                                                          or config.get("repl-diskless-sync-max-replicas") == "1")


def _refused(exc: RedisReplyError, address: str) -> DtsError:
    return DtsError(
        f"the source Redis at {address} refused replication ({exc}); the endpoint's user needs the "
        "+psync +replconf +sync commands (e.g. ACL SETUSER <user> +@all, or +psync +replconf +ping)"
    )
