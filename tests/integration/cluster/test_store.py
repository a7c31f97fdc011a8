"""The etcd store against a real etcd: the ownership transaction, leases, and endpoint failover."""

from __future__ import annotations

import pytest

from dtsctl.cluster.store import EtcdStore, StoreUnavailable
from dtsctl.config.model import Runtime
from tests.servers.etcd import EtcdCluster
from tests.servers.ports import free_port


@pytest.fixture(scope="module")
def etcd():
    cluster = EtcdCluster(1).start()
    yield cluster
    cluster.close()


def store_for(endpoints: list[str], prefix: str = "/t") -> EtcdStore:
    return EtcdStore(Runtime(backend="etcd", endpoints=endpoints, prefix=prefix))


def test_the_owner_key_is_created_only_when_absent_and_its_revision_grows(etcd) -> None:
    store = store_for(etcd.endpoints, "/own")
    lease = store.grant(10)
    first = store.create(store.key("owner"), {"node": "a"}, lease)
    assert first is not None and store.create(store.key("owner"), {"node": "b"}, lease) is None
    entry = store.get(store.key("owner"))
    assert (entry.value, entry.create_revision, entry.lease) == ({"node": "a"}, first, lease)
    assert not store.delete_if(store.key("owner"), first + 1)  # not the same key: left alone
    assert store.delete_if(store.key("owner"), first)
    assert store.create(store.key("owner"), {"node": "b"}, lease) > first  # a newer owner, a larger token


def test_keys_go_with_their_lease_and_an_expired_lease_reports_it(etcd) -> None:
    store = store_for(etcd.endpoints, "/lease")
    lease = store.grant(10)
    store.put(store.key("node"), {"slots": 2}, lease)
    assert store.refresh(lease) > 0
    store.revoke(lease)
    assert store.get(store.key("node")) is None
    assert store.refresh(lease) == -1
    store.revoke(lease)  # already gone: not an error


def test_a_dead_endpoint_is_skipped_and_no_endpoint_is_named_in_the_error(etcd) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = store_for([dead, *etcd.endpoints], "/failover")
    store.put(store.key("k"), 1)
    assert store.get(store.key("k")).value == 1
    with pytest.raises(StoreUnavailable, match=r"no etcd endpoint answered \(http://127\.0\.0\.1:\d+: "):
        store_for([dead]).get("/x")
