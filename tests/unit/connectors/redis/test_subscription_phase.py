"""A Redis subscription says `incremental` only once its stream is in place: a write made before
may be in the first full resync's snapshot, which a subscription without `full` does not record.
(The runner used to say `incremental` first, and a client that wrote as soon as it read so saw
its writes go missing: tests/integration/subscribe/test_redis_records.py, intermittently.)"""

from __future__ import annotations

from dtsctl.connectors.redis.subscription import STREAMING, KeyspaceRecorder
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.subscription.store import STORE_FILE, SubscriptionStore


def test_the_phase_is_full_until_the_first_full_resync_is_recorded(tmp_path):
    store, changelog = SubscriptionStore(tmp_path / STORE_FILE), ChangeLog(tmp_path / "changelog.db")
    shown: list[str] = []
    recorder = KeyspaceRecorder(store, changelog, shown.append)
    assert recorder.phase() == "full" and shown == []
    with store.transaction():
        store.set(STREAMING, True)
    assert recorder.phase() == "incremental"
