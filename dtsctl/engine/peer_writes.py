"""What the other direction of a two-way pair read from this task's destination.

Each direction's reader records, for every change it reads, the keys it writes
(its change log's `local_writes`: key -> newest seq), and how far its source had
received the peer's changes when the change was made there (`peer_seen` in the
change's position: the peer's applied change-log seq, read back from the peer's
origin marker).

A direction about to apply change C (made on side A) to key K on side B looks
up K in the peer's `local_writes`, which holds B's own writes. A write of K there
after C's `peer_seen` had not reached A when C was made on A, and C had not
reached B when that write was made: the two are concurrent, and applying C would
silently replace B's value. That is a conflict, resolved by `conflict_policy`
(dtsctl.engine.keyspace.conflicts for Redis, dtsctl.engine.applier for tables).

A conflict is missed by one direction only when the other has not read the
concurrent write yet; that direction then finds it when it applies its own change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Position, encode_value


def row_key(database: str, table: str, values: Sequence[Any]) -> bytes:
    """How a table row's key is named in `local_writes`, by the reader and the applier alike."""
    return f"{database}.{table}:".encode() + json.dumps([encode_value(v) for v in values]).encode()


def peer_seen_of(position: Position | None) -> int | None:
    """The `peer_seen` a reader of a pair stored in a change's position (None for other tasks)."""
    return position.get("peer_seen") if isinstance(position, dict) else None


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

    def forget_own_writes(self, own: ChangeLog) -> None:
        """Trim this direction's own `local_writes` to what the peer may still need."""
        own.forget_local_writes(self.seen_by_every_pending_change())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
