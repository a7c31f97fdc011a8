"""The same key written on both sides of a Redis two-way pair, resolved before a command is applied.

How concurrent writes are found: dtsctl.engine.peer_writes. Commands are
upserts, so a conflict is counted as `delete` for DEL, UNLINK and GETDEL and as
`update` for any other command.
"""

from __future__ import annotations

from typing import Callable, Sequence

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.events import ConflictCounts
from dtsctl.engine.keyspace.interfaces import Batch, Command
from dtsctl.engine.peer_writes import CONCURRENT_WRITE, PeerWrites

_DELETES = {b"del", b"unlink", b"getdel"}
_SELECT = b"select"


class ConcurrentWrites:
    """Finds a batch's commands that conflict with writes on the destination and resolves them."""

    def __init__(self, peer: PeerWrites, conflicts: Conflicts, keys_of: Callable[[Sequence[bytes]], list[bytes]],
                 encode: Callable[[Sequence[bytes]], bytes]) -> None:
        self._peer = peer
        self._conflicts = conflicts
        self._keys_of = keys_of
        self._encode = encode

    def resolve(self, batch: Batch, peer_seen: dict[int, int], conflicts: ConflictCounts) -> None:
        """Count and log each conflicting command; under `ignore` drop it from `batch`, under
        `fail` raise FatalError naming the key. `peer_seen`: change-log seq -> its peer_seen."""
        commands = [command for command in batch.commands
                    if command.args[0].lower() != _SELECT and command.seq in peer_seen]
        clashes = self._peer.concurrent([
            (peer_seen[command.seq], [b"%d:%b" % (command.db, key) for key in self._keys_of(command.args)])
            for command in commands])
        dropped = set()
        for command, clash in zip(commands, clashes):
            if not clash:
                continue
            conflicts.add("delete" if command.args[0].lower() in _DELETES else "update")
            name = command.args[0].decode(errors="replace").upper()
            what = f"conflict: {name} of {_describe(command)} {CONCURRENT_WRITE}"
            if not self._conflicts.concurrent(what, kept="the destination's value is kept"):
                dropped.add(id(command))
        if dropped:
            _drop(batch, dropped, self._encode)

    def forget_own_writes(self, changelog: ChangeLog) -> None:
        """Trim this direction's own `local_writes` to what the peer may still need."""
        self._peer.forget_own_writes(changelog)

    def close(self) -> None:
        self._peer.close()


def _describe(command: Command) -> str:
    key = command.args[1].decode(errors="replace") if len(command.args) > 1 else ""
    return f"key '{key}' in db {command.db}"


def _drop(batch: Batch, dropped: set[int], encode: Callable[[Sequence[bytes]], bytes]) -> None:
    """Remove commands from the batch, re-encoding the payloads that held them."""
    kept = [command for command in batch.commands if id(command) not in dropped]
    touched = {command.seq for command in batch.commands if id(command) in dropped}
    batch.payloads = [(seq, b"".join(encode(c.args) for c in kept if c.seq == seq) if seq in touched else payload)
                      for seq, payload in batch.payloads]
    batch.commands = kept
