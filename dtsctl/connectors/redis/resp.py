"""RESP on a raw socket: encoding commands, and a buffered connection for the hot paths.

redis-py is used for control paths (precheck, heartbeat, verify); replication and
applying batches need byte-exact offsets and pipelining without per-command
Python overhead, so they use `RespConnection`, which parses replies with hiredis.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator, Sequence

import hiredis

from dtsctl.connectors.redis.address import address
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

CONNECT_TIMEOUT_SECONDS = 10.0
RECV_BYTES = 1 << 20


class RedisReplyError(DtsError):
    """The server answered a command with an error reply."""


def encode(args: Sequence[bytes | str | int]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def decode(payload: bytes) -> Iterator[list[bytes]]:
    """The commands of concatenated RESP arrays (what `encode` wrote), one at a time."""
    reader = hiredis.Reader()
    reader.feed(payload)
    while (args := reader.gets()) is not False:
        yield args


def encoded_length(args: Sequence[bytes]) -> int:
    """Bytes `args` take as a RESP array: how far one command advances the replication offset."""
    total = len(str(len(args))) + 3 + 5 * len(args)  # *<n>\r\n, and $<size>\r\n...\r\n for each
    for arg in args:
        size = len(arg)
        total += size + (1 if size < 10 else 2 if size < 100 else len(str(size)))
    return total


class RespConnection:
    """A blocking connection with its own read buffer.

    `read_line` / `read_exact` serve the replication handshake and the RDB
    transfer; `read_reply` / `pending_replies` parse RESP replies with hiredis.
    """

    def __init__(self, host: str, port: int, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        self.address = f"{host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConnectionFailure(f"cannot connect to Redis at {self.address}: {exc.strerror or exc}") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._buffer = bytearray()
        self._parser = hiredis.Reader()
        self._raw = True  # until `switch_to_replies`, bytes stay in _buffer

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionFailure(f"lost the connection to Redis at {self.address}: {exc}") from exc

    def _recv(self) -> bytes:
        """Up to RECV_BYTES; raises socket.timeout when nothing arrives in time."""
        try:
            data = self.sock.recv(RECV_BYTES)
        except socket.timeout:
            raise
        except OSError as exc:
            raise ConnectionFailure(f"lost the connection to Redis at {self.address}: {exc}") from exc
        if not data:
            raise ConnectionFailure(f"Redis at {self.address} closed the connection")
        return data

    def fill(self) -> None:
        """Read more bytes into the raw buffer (raw mode)."""
        self._buffer += self._recv()

    # -- raw mode: handshake and RDB --------------------------------------------------
    def read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end]).rstrip(b"\r")
                del self._buffer[:end + 1]
                return line
            self.fill()

    def take(self, limit: int) -> bytes:
        """Up to `limit` buffered bytes (reading once when the buffer is empty)."""
        if not self._buffer:
            self.fill()
        data = bytes(self._buffer[:limit])
        del self._buffer[:limit]
        return data

    def unread(self, data: bytes) -> None:
        """Put bytes read too far back in front of the buffer (raw mode)."""
        self._buffer[:0] = data

    def switch_to_replies(self) -> bytes:
        """From now on bytes go to the RESP parser (the replication stream after the RDB); returns
        the buffered bytes handed to it."""
        self._raw = False
        data = bytes(self._buffer)
        if data:
            self._parser.feed(data)
            self._buffer.clear()
        return data

    # -- reply mode -------------------------------------------------------------------
    def read_reply(self) -> Any:
        """The next reply, blocking; an error reply is returned as an exception instance."""
        if self._raw:
            self.switch_to_replies()
        while True:
            reply = self._parser.gets()
            if reply is not False:
                return reply
            self._parser.feed(self._recv())

    def skip_replies(self, expected: bytes) -> None:
        """Drop the next replies when their bytes are exactly `expected` (a run known in advance, such
        as a transaction's +QUEUED replies); otherwise leave every byte to `read_reply`. Comparing
        bytes costs far less than parsing thousands of replies one at a time."""
        if self._raw:
            self.switch_to_replies()
        if self._parser.has_data():
            return
        received = bytearray()
        while len(received) < len(expected) and expected.startswith(received):
            received += self._recv()
        if received.startswith(expected):
            del received[:len(expected)]
        if received:
            self._parser.feed(bytes(received))

    def poll_replies(self) -> tuple[bytes, list[Any]]:
        """The bytes read from the socket once (it may time out: then none), and every reply
        already parsable."""
        replies, data = [], b""
        try:
            data = self._recv()
            self._parser.feed(data)
        except socket.timeout:
            pass
        while (reply := self._parser.gets()) is not False:
            replies.append(reply)
        return data, replies

    def call(self, *args: bytes | str | int) -> Any:
        """Send one command and return its reply, raising RedisReplyError on an error reply.

        In raw mode (before `switch_to_replies`) only one-line replies are expected
        (AUTH, REPLCONF), so nothing is left in the parser when the RDB follows.
        """
        self.send(encode(args))
        if self._raw:
            line = self.read_line()
            if line.startswith(b"-"):
                raise RedisReplyError(line[1:].decode(errors="replace"))
            return line[1:]
        reply = self.read_reply()
        if isinstance(reply, hiredis.ReplyError):
            raise RedisReplyError(str(reply))
        return reply


def open_connection(endpoint: dict[str, Any], role: str) -> RespConnection:
    """Connect to the endpoint's server (its Sentinels' master now, for one they manage) and
    authenticate (password, or ACL user and password)."""
    conn = RespConnection(*address(endpoint, role))
    try:
        authenticate(conn, endpoint, role)
    except BaseException:
        conn.close()
        raise
    return conn


def authenticate(conn: RespConnection, endpoint: dict[str, Any], role: str) -> None:
    user, password = endpoint.get("user"), endpoint.get("password")
    if not password:
        return
    args: list[str] = ["AUTH", user, password] if user else ["AUTH", password]
    try:
        conn.call(*args)
    except RedisReplyError as exc:
        who = f"user {user}" if user else "the password"
        raise DtsError(
            f"the {role} Redis at {conn.address} refused {who} ({_first_word(exc)}); "
            "fix `user`/`password` of the endpoint"
        ) from None


def _first_word(exc: Exception) -> str:
    text = str(exc)
    return text.split(" ", 1)[0] if text else "error"
