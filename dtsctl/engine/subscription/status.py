"""What `dtsctl status` shows of a subscription task: the retained range, each group, delivery."""

from __future__ import annotations

import time
from typing import Any

from dtsctl.engine.subscription.delivery import delivery_cursor
from dtsctl.engine.subscription.envelope import iso_time
from dtsctl.engine.subscription.store import Group, Retained
from dtsctl.engine.subscription.stores import Location, RecordStore, open_store


def describe(where: Location) -> dict[str, Any]:
    """{"retained": {...}, "groups": [...], "delivery": {...} | None, "warnings": [...]}."""
    store = open_store(where, create=False)
    try:
        retained = store.retained()
        now = time.time()
        groups = [_group(store, retained, group, now) for group in store.groups()]
        warnings = [
            f"group {group.name} lost records {group.gap['from']}..{group.gap['to']} to the size bound of "
            f"retention at {iso_time(group.gap['at'])}; raise `retention.megabytes` or read faster"
            for group in store.groups() if group.gap
        ]
        cursor = delivery_cursor(store)
        delivery = None if cursor is None else {
            "seq": cursor, "lag_records": _lag_records(retained, cursor),
            "lag_seconds": _lag_seconds(store, retained, cursor),
        }
        if cursor is not None and cursor < retained.trimmed_upto:
            warnings.append(f"delivery is behind the oldest retained record (seq {cursor}): records were lost")
        return {"retained": _range(retained), "groups": groups, "delivery": delivery, "warnings": warnings}
    finally:
        store.close()


def _range(retained: Retained) -> dict[str, Any]:
    return {
        "first_seq": retained.first_seq,
        "last_seq": retained.last_seq,
        "records": retained.records,
        "megabytes": round(retained.bytes / 1_000_000, 3),
        "oldest": iso_time(retained.oldest) if retained.oldest is not None else None,
        "newest": iso_time(retained.newest) if retained.newest is not None else None,
    }


def _group(store: RecordStore, retained: Retained, group: Group, now: float) -> dict[str, Any]:
    return {
        "name": group.name,
        "offset": group.committed_seq,
        "lag_records": _lag_records(retained, group.committed_seq),
        "lag_seconds": _lag_seconds(store, retained, group.committed_seq),
        "holder": group.holder if group.expires_at > now else None,
        "committed_at": iso_time(group.committed_at) if group.committed_at else None,
    }


def _lag_records(retained: Retained, offset: int) -> int:
    """Records after the offset (seqs are dense; trimmed ones a group missed count too)."""
    return max(0, retained.last_seq - offset)


def _lag_seconds(store: RecordStore, retained: Retained, offset: int) -> float:
    """Commit time of the newest record minus that of the last one the group processed."""
    if offset >= retained.last_seq or retained.newest is None:
        return 0.0
    processed = store.commit_time_of(offset) or retained.oldest or retained.newest
    return round(max(0.0, retained.newest - processed), 3)
