"""The reader drops its peer's MULTI blocks even when one arrives over several polls: a poll may
bring only part of a large command, or nothing, in the middle of a block, and the origin marker
that tags the block comes last (a block read in two halves was echoed back to the peer)."""

from __future__ import annotations

from typing import Any

from dtsctl.connectors.redis.resp import decode, encode
from dtsctl.connectors.redis.selection import origin_key
from dtsctl.connectors.redis.source import RedisSource
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.origin import PairTags
from dtsctl.engine.task import TaskSpec


class _Stream:
    """The replication stream as the reader's polls find it: one list of commands per poll, []
    for a poll that brought no whole command."""

    def __init__(self, polls: list[list[tuple[list[bytes], bytes]]]) -> None:
        self.polls = polls

    def commands(self, wait: bool = True) -> list[tuple[list[bytes], bytes]]:
        return self.polls.pop(0) if self.polls else []

    def ack(self, offset: int, force: bool = False) -> None:
        """Nothing to acknowledge to."""


def command(*words: Any) -> tuple[list[bytes], bytes]:
    args = [word if isinstance(word, bytes) else str(word).encode() for word in words]
    return args, encode(args)


def test_a_peer_block_with_an_empty_poll_inside_it_is_dropped_and_the_position_stays_after_it() -> None:
    spec = TaskSpec("t", "synchronization", ("incremental",),
                    ({"database": 0, "rename": None, "key_prefixes": None, "extend_ttl_seconds": None},),
                    ConflictPolicy.IGNORE, 0, 0, (), "UTC", 1, {"engine": "redis", "host": "127.0.0.1", "port": 1},
                    None, tags=PairTags(own="mine", peer="theirs"))
    source = RedisSource(spec)
    block = [command("MULTI"), command("SET", "k", "from the peer"), command("SET", origin_key("theirs"), 7),
             command("EXEC")]
    source._replica = _Stream([block[:2], [], block[2:], [command("SET", "own", "write")]])  # type: ignore[assignment]
    written, position = [], None
    for _ in range(3):
        records, position = source.read(0.1)
        written += [args for record in records for args in decode(record.data)]
    assert written == [[b"SELECT", b"0"], [b"SET", b"own", b"write"]]
    assert position["offset"] == sum(len(raw) for _, raw in block) + len(command("SET", "own", "write")[1])
    assert position["peer_seen"] == 7
