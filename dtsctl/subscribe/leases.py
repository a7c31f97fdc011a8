"""One active consumer per group: a lease kept with the group in the task's store, renewed by heartbeat.

A lease names its holder and carries a token that grows with every change of
holder, so a consumer that stalled past its lease can tell it was replaced (and
its late commits are refused) even if it comes back before anyone notices. Each
change is one atomic `update_group` of the store (a transaction in SQLite, a
compare-and-set in JetStream).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from dtsctl.engine.subscription.store import Group
from dtsctl.engine.subscription.stores import RecordStore


@dataclass(frozen=True)
class Lease:
    group: str
    holder: str
    token: int


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    expires_at: float


def held(group: Group | None, lease: Lease) -> bool:
    return group is not None and group.holder == lease.holder and group.token == lease.token


def acquire(store: RecordStore, group: str, holder: str, seconds: float, now: float) -> Lease | None:
    """Take the group's lease when it is free, expired, or already ours; None while another holds it
    (or the group is not declared)."""

    def take(current: Group) -> Group:
        if current.holder not in (None, holder) and current.expires_at > now:
            return current
        token = current.token if current.holder == holder else current.token + 1
        return replace(current, holder=holder, token=token, expires_at=now + seconds)

    stored = store.update_group(group, take)
    if stored is None or stored.holder != holder or stored.expires_at != now + seconds:
        return None
    return Lease(group, holder, stored.token)


def renewal(lease: Lease, seconds: float, now: float) -> Callable[[Group], Group]:
    """The change that extends `lease` by `seconds`, when it is still held."""
    return lambda current: replace(current, expires_at=now + seconds) if held(current, lease) else current


def renew(store: RecordStore, lease: Lease, seconds: float, now: float) -> bool:
    """Extend our lease; False when another consumer has taken it."""
    stored = store.update_group(lease.group, renewal(lease, seconds, now))
    return held(stored, lease) and stored is not None and stored.expires_at == now + seconds


def release(store: RecordStore, lease: Lease) -> None:
    """Give the lease up at once, so a waiting consumer takes over without waiting for expiry."""
    store.update_group(lease.group, lambda current: replace(current, holder=None, expires_at=0.0)
                       if held(current, lease) else current)


def current(store: RecordStore, group: str) -> LeaseInfo | None:
    found = store.group(group)
    return None if found is None or found.holder is None else LeaseInfo(found.holder, found.expires_at)
