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
(dtsctl.engine.keyspace.conflicts for Redis, dtsctl.engine.tables.applier for tables).

A conflict is missed by one direction only when the other has not read the
concurrent write yet; that direction then finds it when it applies its own change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import Position, encode_value


def row_key(database: str, table: str, values: Sequence[Any]) -> bytes:
    """How a table row's key is named in `local_writes`, by the reader and the applier alike."""
    return f"{database}.{table}:".encode() + json.dumps([encode_value(v) for v in values]).encode()


CONCURRENT_WRITE = "was also written on the destination since the source last received its changes"
Change = TypeVar("Change")


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

    def concurrent(self, changes: Sequence[tuple[int, Sequence[bytes]]]) -> list[bool]:
        """For each (peer_seen, keys) of changes about to be applied: True when one of its keys was
        written on the destination after that peer_seen, i.e. by a write its source had not received."""
        peer_log = self._open()
        if not changes or peer_log is None:
            return [False] * len(changes)
        oldest = min(seen for seen, _ in changes)
        if peer_log.newest_local_write() <= oldest:  # the usual case: nothing to look up
            return [False] * len(changes)
        written = peer_log.local_writes_after(oldest, [key for _, keys in changes for key in keys])
        return [any(written.get(key, 0) > seen for key in keys) for seen, keys in changes]

    def forget_own_writes(self, own: ChangeLog) -> None:
        """Trim this direction's own `local_writes` to what the peer may still need: every change
        the peer has yet to apply had received this direction's writes up to the peer log's
        lowest `peer_seen`, so older writes can no longer conflict with them."""
        peer_log = self._open()
        if peer_log is not None:
            own.forget_local_writes(peer_log.lowest_peer_seen())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def resolve_concurrent(peer: PeerWrites | None, changes: Sequence[Change],
                       seen_and_key: Callable[[Change], tuple[int | None, bytes]],
                       on_clash: Callable[[Change], Change | None]) -> list[Change]:
    """`changes` in order, each one written concurrently on the destination replaced by what
    `on_clash` makes of it (None: dropped). `seen_and_key` gives a change's peer_seen (None:
    not checked) and the key it writes."""
    if peer is None:
        return list(changes)
    checked = [(index, seen, key) for index, change in enumerate(changes)
               for seen, key in (seen_and_key(change),) if seen is not None]
    if not checked:
        return list(changes)
    clashes = peer.concurrent([(seen, [key]) for _, seen, key in checked])
    clashing = {index for (index, _, _), clash in zip(checked, clashes) if clash}
    kept = []
    for index, change in enumerate(changes):
        resolved = on_clash(change) if index in clashing else change
        if resolved is not None:
            kept.append(resolved)
    return kept
