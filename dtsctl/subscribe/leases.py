"""One active consumer per group: a lease in the task's store, renewed by heartbeat.

A lease names its holder and carries a token that grows with every change of
holder, so a consumer that stalled past its lease can tell it was replaced (and
its late commits are refused) even if it comes back before anyone notices.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtsctl.engine.subscription.store import SubscriptionStore


@dataclass(frozen=True)
class Lease:
    group: str
    holder: str
    token: int


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    expires_at: float


def acquire(store: SubscriptionStore, group: str, holder: str, seconds: float, now: float) -> Lease | None:
    """Take the group's lease when it is free, expired, or already ours; None while another holds it."""
    with store.transaction():
        held = store.lease(group)
        token = 1
        if held is not None:
            current, token, expires_at = held
            if current != holder:
                if expires_at > now:
                    return None
                token += 1
        store.set_lease(group, holder, token, now + seconds)
        return Lease(group, holder, token)


def renew(store: SubscriptionStore, lease: Lease, seconds: float, now: float) -> bool:
    """Extend our lease; False when another consumer has taken it (call inside or outside a transaction)."""
    return store.extend_lease(lease.group, lease.holder, lease.token, now + seconds)


def release(store: SubscriptionStore, lease: Lease) -> None:
    """Give the lease up at once, so a waiting consumer takes over without waiting for expiry."""
    with store.transaction():
        store.drop_lease(lease.group, lease.holder, lease.token)


def current(store: SubscriptionStore, group: str) -> LeaseInfo | None:
    held = store.lease(group)
    return None if held is None else LeaseInfo(held[0], held[2])
