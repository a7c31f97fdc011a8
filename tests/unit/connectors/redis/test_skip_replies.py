"""A transaction's +QUEUED run is dropped by comparing bytes, and anything else is left to parse."""

from __future__ import annotations

import hiredis
import pytest

from dtsctl.connectors.redis.resp import RespConnection, encode


@pytest.fixture
def conn(redis_factory):
    server = redis_factory()
    connection = RespConnection(server.host, server.port)
    connection.switch_to_replies()
    yield connection
    connection.close()


def transaction(*commands: tuple[bytes, ...]) -> bytes:
    return encode((b"MULTI",)) + b"".join(encode(c) for c in commands) + encode((b"EXEC",))


def test_the_queued_run_is_skipped_and_the_exec_reply_follows(conn):
    conn.send(transaction((b"SET", b"a", b"1"), (b"SET", b"b", b"2"), (b"INCR", b"a")))
    conn.skip_replies(b"+OK\r\n" + b"+QUEUED\r\n" * 3)
    assert conn.read_reply() == [b"OK", b"OK", 2]


def test_a_refused_command_leaves_every_reply_to_read(conn):
    conn.send(transaction((b"SET", b"a", b"1"), (b"SET", b"only-a-key"), (b"SET", b"b", b"2")))
    conn.skip_replies(b"+OK\r\n" + b"+QUEUED\r\n" * 3)
    replies = [conn.read_reply() for _ in range(5)]
    assert replies[:2] == [b"OK", b"QUEUED"]
    assert isinstance(replies[2], hiredis.ReplyError) and "wrong number of arguments" in str(replies[2])
    assert replies[3] == b"QUEUED"
    assert isinstance(replies[4], hiredis.ReplyError) and str(replies[4]).startswith("EXECABORT")
