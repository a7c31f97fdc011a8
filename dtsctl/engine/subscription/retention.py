"""Retention: trim the oldest records by age and by size, whichever bound is reached first.

Age never trims past a declared group's committed offset (nor the delivery
cursor): a slow group keeps its records. Size does, because the disk must stay
bounded; the groups it overtakes get their `gap` noted for status, and read a
`gap` record where the lost records were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dtsctl.engine.subscription.stores import RecordStore

log = logging.getLogger(__name__)

SCAN_CHUNK = 1000
MAX_TRIM_PER_ROUND = 20_000  # keeps each trim transaction short for committing consumers


@dataclass(frozen=True)
class Retention:
    hours: float  # 0: no age bound
    megabytes: float  # 0: no size bound (megabytes of record JSON, 10^6 bytes)

    @property
    def max_bytes(self) -> int:
        return int(self.megabytes * 1_000_000)


def enforce(store: "RecordStore", retention: Retention, now: float, protected: list[int]) -> int:
    """Trim what the bounds allow; `protected` are positions age must not pass (besides the groups').
    Returns the number of records deleted."""
    with store.transaction():
        offsets = [group.committed_seq for group in store.groups()] + protected
        floor = min(offsets) if offsets else store.last_seq()
        before = store.trimmed_upto()
        upto, freed = _trim_point(store, retention, now, floor)
        if upto <= before:
            return 0
        upto = store.trim(upto, freed)
        if upto > floor:
            _note_gaps(store, upto, now)
        return upto - before


def _trim_point(store: "RecordStore", retention: Retention, now: float, floor: int) -> tuple[int, int]:
    """(last seq to delete, bytes freed), scanning from the oldest record while a bound is exceeded."""
    cutoff = now - retention.hours * 3600
    remaining = int(store.get("bytes", 0))
    upto, freed, scanned = store.trimmed_upto(), 0, 0
    while scanned < MAX_TRIM_PER_ROUND:
        rows = store.scan(upto, SCAN_CHUNK)
        if not rows:
            break
        for seq, recorded_at, size in rows:
            too_old = retention.hours > 0 and recorded_at < cutoff and seq <= floor
            too_big = retention.max_bytes > 0 and remaining > retention.max_bytes
            if not (too_old or too_big):
                return upto, freed
            upto, freed, remaining, scanned = seq, freed + size, remaining - size, scanned + 1
    return upto, freed


def _note_gaps(store: "RecordStore", upto: int, now: float) -> None:
    for group in store.groups():
        if group.committed_seq < upto:
            first = group.gap["from"] if group.gap and group.gap["to"] >= group.committed_seq else group.committed_seq + 1
            gap = {"from": first, "to": upto, "at": now}
            store.update_group(group.name, lambda current: replace(current, gap=gap))
            log.warning("the size bound of retention trimmed records %d..%d before group %s read them",
                        first, upto, group.name)
