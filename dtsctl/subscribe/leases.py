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
        row = store.conn.execute("SELECT holder, token, expires_at FROM leases WHERE grp = ?", (group,)).fetchone()
        if row is None:
            token = 1
            store.conn.execute("INSERT INTO leases (grp, holder, token, expires_at) VALUES (?, ?, ?, ?)",
                               (group, holder, token, now + seconds))
            return Lease(group, holder, token)
        current, token, expires_at = row
        if current != holder:
            if expires_at > now:
                return None
            token += 1
        store.conn.execute("UPDATE leases SET holder = ?, token = ?, expires_at = ? WHERE grp = ?",
                           (holder, token, now + seconds, group))
        return Lease(group, holder, token)


def renew(store: SubscriptionStore, lease: Lease, seconds: float, now: float) -> bool:
    """Extend our lease; False when another consumer has taken it (call inside or outside a transaction)."""
    updated = store.conn.execute(
        "UPDATE leases SET expires_at = ? WHERE grp = ? AND holder = ? AND token = ?",
        (now + seconds, lease.group, lease.holder, lease.token),
    ).rowcount
    return updated == 1


def release(store: SubscriptionStore, lease: Lease) -> None:
    """Give the lease up at once, so a waiting consumer takes over without waiting for expiry."""
    with store.transaction():
        store.conn.execute("DELETE FROM leases WHERE grp = ? AND holder = ? AND token = ?",
                           (lease.group, lease.holder, lease.token))


def current(store: SubscriptionStore, group: str) -> LeaseInfo | None:
    row = store.conn.execute("SELECT holder, expires_at FROM leases WHERE grp = ?", (group,)).fetchone()
    return None if row is None else LeaseInfo(row[0], row[1])
