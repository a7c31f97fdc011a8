"""The same key written on both sides of a two-way pair: detected before a command is applied.

Each direction's reader records, for every record it reads, the keys it writes
(its change log's `local_writes`: key -> newest seq), and how far its source had
received the peer's changes when the record was written there (`peer_seen`: the
peer's applied change-log seq, read back from the peer's origin marker).

The forward applier is about to apply command C (from side A) to key K on side B.
B's own writes are read by the reverse direction into its change log. If that log
holds a write of K after C's `peer_seen`, the write on B had not reached A when C
was made on A, and C had not reached B when the write was made there: they are
concurrent, and applying C would silently replace B's value. That is a conflict,
resolved by `conflict_policy`, counted and logged with its key.

A conflict is missed on one side only when the other direction has not read the
write yet; that direction then finds it when it applies its own change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import ConflictCounts
from dtsctl.engine.keyspace.interfaces import Batch, Command

log = logging.getLogger(__name__)

_DELETES = {b"del", b"unlink", b"getdel"}
_SELECT = b"select"


class PeerWrites:
    """The keys written on this task's destination by others, as the peer direction read them."""

    def __init__(self, peer_changelog: Path) -> None:
        self._path = peer_changelog
        self._log: ChangeLog | None = None

    def _open(self) -> ChangeLog | None:
        if self._log is None and self._path.exists():  # the peer may not have run yet
            self._log = ChangeLog(self._path)
        return self._log

    def any_written_after(self, seen: int) -> bool:
        """Cheap first check: was anything written on the destination after the peer's seq `seen`?"""
        peer_log = self._open()
        return peer_log is not None and peer_log.newest_local_write() > seen

    def written_after(self, seen: int, keys: Sequence[bytes]) -> dict[bytes, int]:
        """Of `keys`, those written on the destination after the peer's change-log seq `seen`."""
        peer_log = self._open()
        return {} if peer_log is None else peer_log.local_writes_after(seen, keys)

    def seen_by_every_pending_change(self) -> int:
        """This task's applied change-log seq that every change the peer has yet to apply had
        already received (0 when unknown): this task's own `local_writes` up to it can no longer
        conflict with anything the peer applies."""
        peer_log = self._open()
        if peer_log is None:
            return 0
        return peer_log.lowest_peer_seen()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class ConcurrentWrites:
    """Finds a batch's commands that conflict with writes on the destination and resolves them."""

    def __init__(self, peer: PeerWrites, policy: str, keys_of: Callable[[Sequence[bytes]], list[bytes]],
                 encode: Callable[[Sequence[bytes]], bytes]) -> None:
        self._peer = peer
        self._policy = policy
        self._keys_of = keys_of
        self._encode = encode

    def resolve(self, batch: Batch, peer_seen: dict[int, int], conflicts: ConflictCounts) -> None:
        """Count and log each conflicting command; under `ignore` drop it from `batch`, under
        `fail` raise FatalError naming the key. `peer_seen`: change-log seq -> its peer_seen."""
        if not peer_seen or not self._peer.any_written_after(min(peer_seen.values())):
            return
        keys = {id(command): [b"%d:%b" % (command.db, key) for key in self._keys_of(command.args)]
                for command in batch.commands if command.args[0].lower() != _SELECT}
        written = self._peer.written_after(min(peer_seen.values()), [key for ks in keys.values() for key in ks])
        if not written:
            return
        clashing = [command for command in batch.commands
                    if any(written.get(key, 0) > peer_seen.get(command.seq, 0) for key in keys.get(id(command), ()))]
        for command in clashing:
            op = "delete" if command.args[0].lower() in _DELETES else "update"
            conflicts.add(op)
            what = f"{command.args[0].decode(errors='replace').upper()} of {_describe(command)}"
            if self._policy == "fail":
                raise FatalError(f"conflict: {what} was also written on the destination since the source last "
                                 "received its changes; conflict_policy is fail")
            outcome = "the destination's value is kept" if self._policy == "ignore" else "the incoming change wins"
            log.warning("conflict: %s was also written on the destination since the source last received its "
                        "changes; %s (conflict_policy %s)", what, outcome, self._policy)
        if self._policy == "ignore":
            _drop(batch, {id(command) for command in clashing}, self._encode)

    def forget_own_writes(self, changelog: ChangeLog) -> None:
        """Trim this direction's own `local_writes` to what the peer may still need."""
        changelog.forget_local_writes(self._peer.seen_by_every_pending_change())

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
