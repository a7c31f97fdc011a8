"""A node's lease: renewed in the background, and a watchdog that stops the node's agents before
the lease can expire when renewals keep failing.

Patroni's rule: RENEW_EVERY + 2 × REQUEST_SECONDS < TTL. Renewals start every TTL/5 seconds; a
request gives up after REQUEST_SECONDS (2 s). The watchdog counts from the start of the last renewal
that succeeded (the lease's own clock started no earlier), and when TTL − 2 × REQUEST_SECONDS have
passed without one it calls `on_expiring` — the node kills its agents — while the lease, and so
the ownership keys, still exist: by the time another node can take a task over, its former agent
is gone (and if it is frozen instead, the fencing token stops it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dtsctl.cluster.store import REQUEST_SECONDS, EtcdStore
from dtsctl.errors import DtsError

WATCHDOG_SECONDS = 0.2
log = logging.getLogger("dtsctl.node")


def renew_every(ttl: int) -> float:
    return ttl / 5


def safe_for(ttl: int) -> float:
    """How long after a successful renewal the node may keep running agents."""
    return ttl - 2 * REQUEST_SECONDS


class LeaseKeeper:
    def __init__(self, store: EtcdStore, ttl: int, on_expiring: Callable[[], None]) -> None:
        assert renew_every(ttl) + 2 * REQUEST_SECONDS < ttl, "the lease rule: renew + 2 × retry timeout < TTL"
        self.store, self.ttl, self.on_expiring = store, ttl, on_expiring
        self.lease = 0
        self.renewed_at = 0.0  # monotonic start of the last successful renewal
        self.lost = threading.Event()  # the node must stop its agents and take a new lease
        self._halt = threading.Event()
        self._threads = [threading.Thread(target=self._renew, name="lease", daemon=True),
                         threading.Thread(target=self._watch, name="lease-watchdog", daemon=True)]

    def grant(self) -> int:
        started = time.monotonic()
        self.lease = self.store.grant(self.ttl)
        self.renewed_at = started
        self.lost.clear()
        return self.lease

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(timeout=2 * REQUEST_SECONDS + 1)

    def _renew(self) -> None:
        while not self._halt.wait(renew_every(self.ttl)):
            if self.lost.is_set():
                continue
            started = time.monotonic()
            try:
                remaining = self.store.refresh(self.lease)
            except DtsError as exc:
                log.warning("could not renew the lease: %s", exc)
                continue
            if remaining > 0:
                self.renewed_at = started
            else:
                self._expire("the lease expired")

    def _watch(self) -> None:
        while not self._halt.wait(WATCHDOG_SECONDS):
            if not self.lost.is_set() and time.monotonic() - self.renewed_at > safe_for(self.ttl):
                self._expire(f"no lease renewal for {safe_for(self.ttl):g}s")

    def _expire(self, why: str) -> None:
        if self.lost.is_set():
            return
        log.error("%s: stopping every agent of this node before its lease can expire", why)
        self.lost.set()
        self.on_expiring()
