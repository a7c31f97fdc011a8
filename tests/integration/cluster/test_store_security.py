"""The etcd store against an etcd that requires TLS client certificates and password
authentication, as a production cluster does: the runtime's `tls` and `username` settings,
the password from DTSCTL_ETCD_PASSWORD, clear messages when either is wrong, and a node that
outlives its auth token (etcd expires an idle token: the store signs in again)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from dtsctl.cluster.store import PASSWORD_ENV, EtcdStore, StoreUnavailable
from dtsctl.cluster.watch import ChangeWatch
from dtsctl.config.model import Runtime, RuntimeTls
from dtsctl.errors import DtsError
from tests.servers.etcd import EtcdCluster
from tests.servers.tls import TestCertificates

PREFIX = "/secure"
PASSWORD = "s3cret-pw"
TOKEN_TTL_SECONDS = 2


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """One etcd member over HTTPS with client certificates, auth enabled, and a `dtsctl` user that
    may read and write the workspace's prefix only."""
    tls = TestCertificates.make(tmp_path_factory.mktemp("etcd-tls"))
    cluster = EtcdCluster(1, tls=tls, extra_args=("--auth-token-ttl", str(TOKEN_TTL_SECONDS))).start()
    member = cluster.members[0]

    def call(path: str, body: dict) -> None:
        member.open(f"/v3/auth/{path}", json.dumps(body).encode())

    call("role/add", {"name": "root"})
    call("user/add", {"name": "root", "password": "root-pw"})
    call("user/grant", {"user": "root", "role": "root"})
    call("role/add", {"name": "dtsctl"})
    call("role/grant", {"name": "dtsctl", "perm": {"permType": "READWRITE", "key": _b64(PREFIX + "/"),
                                                  "range_end": _b64(PREFIX + "0")}})
    call("user/add", {"name": "dtsctl", "password": PASSWORD})
    call("user/grant", {"user": "dtsctl", "role": "dtsctl"})
    call("enable", {})
    yield cluster, tls
    cluster.close()


def _store(cluster: EtcdCluster, tls: TestCertificates, client_certificate: bool = True) -> EtcdStore:
    files = RuntimeTls(ca=str(tls.ca), cert=str(tls.client_cert), key=str(tls.client_key)) if client_certificate \
        else RuntimeTls(ca=str(tls.ca))
    return EtcdStore(Runtime(backend="etcd", endpoints=cluster.endpoints, prefix=PREFIX, username="dtsctl", tls=files))


def test_a_store_with_the_certificate_and_password_reads_writes_leases_and_watches(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    store = _store(cluster, tls)
    lease = store.grant(10)
    assert store.create(store.key("tasks", "task.a", "owner"), {"node": "n1"}, lease) is not None
    assert store.get(store.key("tasks", "task.a", "owner")).value == {"node": "n1"}
    watch = ChangeWatch(store)
    watch.start()
    try:
        for write in range(10):  # until the watch is open
            store.put(store.key("tasks", "task.a", "desired"), {"n": write})
            if watch.changed.wait(1.0):
                break
        assert watch.changed.is_set()
    finally:
        watch.stop()
    store.revoke(lease)


def test_a_node_idle_longer_than_its_auth_token_lives_signs_in_again(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    store = _store(cluster, tls)
    store.put(store.key("k"), 1)
    time.sleep(TOKEN_TTL_SECONDS + 1.5)  # etcd drops the idle token
    assert store.get(store.key("k")).value == 1


def test_a_wrong_password_says_what_to_check(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.setenv(PASSWORD_ENV, "not-it")
    with pytest.raises(DtsError) as refused:
        _store(cluster, tls).get(PREFIX + "/k")
    assert refused.value.message == ("etcd refused a request (authentication failed, invalid user ID or "
                                     f"password); check the runtime's username and {PASSWORD_ENV}")


def test_a_missing_password_says_where_to_put_it(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(DtsError, match=f"the runtime names etcd user dtsctl: set {PASSWORD_ENV} to its password"):
        _store(cluster, tls).get(PREFIX + "/k")


def test_a_key_outside_the_users_prefix_is_refused_clearly(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with pytest.raises(DtsError, match=r"etcd refused a request \(permission denied\)"):
        _store(cluster, tls).put("/elsewhere/k", 1)


def test_without_a_client_certificate_no_endpoint_answers(secured, monkeypatch) -> None:
    cluster, tls = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with pytest.raises(StoreUnavailable, match=r"^no etcd endpoint answered \(https://127\.0\.0\.1:\d+: the TLS "
                                               r"handshake failed: check `runtime.tls` \(ca, cert, key\)\)"):
        _store(cluster, tls, client_certificate=False).get(PREFIX + "/k")
