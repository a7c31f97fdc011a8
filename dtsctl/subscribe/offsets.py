"""Committed offsets: the last seq a group has processed, stored durably in the task's store."""

from __future__ import annotations

import time

from dtsctl.engine.subscription.store import SubscriptionStore
from dtsctl.subscribe import leases
from dtsctl.subscribe.errors import GroupNotDeclared, LeaseLost
from dtsctl.subscribe.leases import Lease


def committed(store: SubscriptionStore, group: str) -> int:
    found = store.group(group)
    if found is None:
        raise GroupNotDeclared(_not_declared(group))
    return found.committed_seq


def commit(store: SubscriptionStore, group: str, seq: int, lease: Lease, lease_seconds: float) -> None:
    """Store `seq` as the group's offset and renew the lease, atomically; refused (LeaseLost) when
    another consumer holds the lease now, so a replaced consumer cannot move the offset."""
    now = time.time()
    with store.transaction():
        if not leases.renew(store, lease, lease_seconds, now):
            raise LeaseLost(
                f"consumer {lease.holder} no longer holds the lease of group {group}: another consumer took over, "
                "and it resumes from the last committed offset"
            )
        if not store.set_offset(group, seq, now):
            raise GroupNotDeclared(_not_declared(group))


def _not_declared(group: str) -> str:
    return (f"consumer group {group} is not declared for this task; add it to `consumer_groups` "
            "and run `dtsctl apply`")
