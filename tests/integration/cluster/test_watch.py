"""The node's etcd watch against a real etcd: it wakes on the keys a node acts on, not on status."""

from __future__ import annotations

import pytest

from dtsctl.cluster.keys import node_key, task_key
from dtsctl.cluster.store import EtcdStore
from dtsctl.cluster.watch import ChangeWatch
from dtsctl.config.model import Runtime
from tests.servers.etcd import EtcdCluster
from tests.servers.ports import free_port

WAKE_SECONDS = 5.0


@pytest.fixture(scope="module")
def etcd():
    cluster = EtcdCluster(1).start()
    yield cluster
    cluster.close()


def _prefix(request) -> str:
    return "/" + "".join(c if c.isalnum() else "_" for c in request.node.name)


@pytest.fixture
def watched(etcd, request):
    store = EtcdStore(Runtime(backend="etcd", endpoints=etcd.endpoints, prefix=_prefix(request)))
    watch = ChangeWatch(store)
    watch.start()
    yield store, watch
    watch.stop()


def _settled(watch: ChangeWatch, store: EtcdStore) -> None:
    """Wait until the watch is open: a write it must see has woken it."""
    for write in range(10):
        store.put(store.key("tasks", "probe", "desired"), {"n": write})
        if watch.changed.wait(1.0):
            break
    assert watch.changed.is_set()
    watch.changed.clear()


@pytest.mark.parametrize("part", ["spec", "desired", "owner"])
def test_a_write_to_a_task_key_a_node_acts_on_wakes_it(watched, part: str) -> None:
    store, watch = watched
    _settled(watch, store)
    store.put(task_key(store, "task.a", part), {"x": 1})
    assert watch.changed.wait(WAKE_SECONDS)


def test_a_deleted_owner_key_and_a_node_joining_wake_it(watched) -> None:
    store, watch = watched
    store.put(task_key(store, "task.a", "owner"), {"node": "n1"})
    _settled(watch, store)
    store.delete(task_key(store, "task.a", "owner"))  # what a lease expiring does to it
    assert watch.changed.wait(WAKE_SECONDS)
    watch.changed.clear()
    store.put(node_key(store, "n2"), {"slots": 1})
    assert watch.changed.wait(WAKE_SECONDS)


def test_status_writes_and_other_workspaces_do_not_wake_it(watched) -> None:
    store, watch = watched
    _settled(watch, store)
    store.put(task_key(store, "task.a", "status"), {"lag_seconds": 1})
    other = EtcdStore(Runtime(backend="etcd", endpoints=store.settings.endpoints, prefix="/another"))
    other.put(task_key(other, "task.a", "desired"), {"desired": "running"})
    assert not watch.changed.wait(1.0)
    store.put(task_key(store, "task.a", "desired"), {"desired": "paused"})  # and it is still watching
    assert watch.changed.wait(WAKE_SECONDS)


def test_a_dead_first_endpoint_is_passed_over(etcd, request) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = EtcdStore(Runtime(backend="etcd", endpoints=[dead, *etcd.endpoints], prefix=_prefix(request)))
    watch = ChangeWatch(store)
    watch.start()
    try:
        _settled(watch, store)  # the watch moved on to the live endpoint
    finally:
        watch.stop()


def test_a_node_makes_its_next_pass_at_once_when_a_task_is_applied(etcd, tmp_path, monkeypatch) -> None:
    import threading

    from dtsctl.cluster import node as node_module
    from dtsctl.cluster.node import Node
    from dtsctl.cluster.secrets import SecretSource

    monkeypatch.setattr(node_module, "PASS_SECONDS", 60.0)  # without the watch the next pass is a minute away
    store = EtcdStore(Runtime(backend="etcd", endpoints=etcd.endpoints, prefix="/node_pass"))
    passes = threading.Semaphore(0)
    the_node = Node(store, "n1", 1, tmp_path / "node", SecretSource(), ttl=10)
    real_step = the_node.step
    monkeypatch.setattr(the_node, "step", lambda: (real_step(), passes.release()))
    runner = threading.Thread(target=the_node.run, daemon=True)
    runner.start()
    try:
        assert passes.acquire(timeout=WAKE_SECONDS)  # the first pass, at start
        for write in range(5):  # the watch may open just after the first write
            store.put(task_key(store, "task.a", "desired"), {"desired": "stopped", "n": write})
            if passes.acquire(timeout=1.0):
                break
        else:
            pytest.fail("no pass followed the task's desired state being written")
    finally:
        the_node.request_stop()
        runner.join(timeout=15)
