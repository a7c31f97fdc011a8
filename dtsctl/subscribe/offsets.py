"""Committed offsets: the last seq a group has processed, stored durably in the task's store."""

from __future__ import annotations

import time
from dataclasses import replace

from dtsctl.engine.subscription.store import Group
from dtsctl.engine.subscription.stores import RecordStore
from dtsctl.subscribe.errors import GroupNotDeclared, LeaseLost
from dtsctl.subscribe.leases import Lease, held


def committed(store: RecordStore, group: str) -> int:
    found = store.group(group)
    if found is None:
        raise GroupNotDeclared(_not_declared(group))
    return found.committed_seq


def commit(store: RecordStore, group: str, seq: int, lease: Lease, lease_seconds: float) -> None:
    """Store `seq` as the group's offset and renew the lease, atomically; refused (LeaseLost) when
    another consumer holds the lease now, so a replaced consumer cannot move the offset."""
    now = time.time()

    def move(current: Group) -> Group:
        if not held(current, lease):
            return current
        return replace(current, committed_seq=seq, committed_at=now, expires_at=now + lease_seconds)

    stored = store.update_group(group, move)
    if stored is None:
        raise GroupNotDeclared(_not_declared(group))
    if not held(stored, lease):
        raise LeaseLost(
            f"consumer {lease.holder} no longer holds the lease of group {group}: another consumer took over, "
            "and it resumes from the last committed offset"
        )


def _not_declared(group: str) -> str:
    return (f"consumer group {group} is not declared for this task; add it to `consumer_groups` "
            "and run `dtsctl apply`")
