"""The replicated record store over TLS, against a NATS server that verifies client certificates:
records round-trip with the declared CA and client certificate, and a missing certificate or an
unreadable file gets a message saying what to check."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from dtsctl.engine.subscription.jetstream import JetStreamStore
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, NatsSettings
from dtsctl.engine.subscription.stores import record_store_attribute
from dtsctl.errors import DtsError
from tests.integration.subscribe.test_jetstream_store import Recording, bodies, one_row
from tests.servers.nats import PASSWORD, USER, NatsCluster
from tests.servers.tls import TestCertificates


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[tuple[NatsCluster, TestCertificates]]:
    certificates = TestCertificates.make(tmp_path_factory.mktemp("nats-tls"))
    cluster = NatsCluster(1, tls=certificates).start()
    yield cluster, certificates
    cluster.close()


def _settings(cluster: NatsCluster, tls: dict[str, str]) -> NatsSettings:
    runtime = {"backend": "etcd", "prefix": "/tls", "subscriptions": {
        "nats": cluster.urls, "replicas": 1, "username": USER, "tls": {"ca": None, "cert": None, "key": None, **tls}}}
    attribute = record_store_attribute(runtime, f"task.t{uuid.uuid4().hex[:8]}")
    return NatsSettings.from_attribute(attribute)


def test_records_round_trip_over_tls_with_a_client_certificate(secured, monkeypatch, tmp_path) -> None:
    cluster, files = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert cluster.urls[0].startswith("tls://")
    recording = Recording(_settings(cluster, {"ca": str(files.ca), "cert": str(files.client_cert),
                                              "key": str(files.client_key)}), tmp_path)
    try:
        recording.add(one_row(1))
        assert [(record["seq"], record["op"]) for record in bodies(recording.store)] == [
            (1, "begin"), (2, "insert"), (3, "commit")]
    finally:
        recording.store.drop()
        recording.close()


def test_without_the_client_certificate_the_servers_are_not_reached(secured, monkeypatch) -> None:
    cluster, files = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with pytest.raises(DtsError, match=r"^cannot reach the NATS servers tls://127\.0\.0\.1:\d+ \(.*\); check "
                                       r"`workspace.runtime.subscriptions.nats`, `.tls` and the credentials"):
        JetStreamStore(_settings(cluster, {"ca": str(files.ca)}))


def test_a_tls_file_that_cannot_be_read_is_named(secured, monkeypatch, tmp_path) -> None:
    cluster, _ = secured
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with pytest.raises(DtsError, match=r"^cannot load the NATS TLS files .*missing-ca\.pem.*check "
                                       r"`workspace.runtime.subscriptions.tls`"):
        JetStreamStore(_settings(cluster, {"ca": str(tmp_path / "missing-ca.pem")}))
