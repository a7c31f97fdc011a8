"""`workspace.runtime`: the local runtime stays the default; the etcd one is validated in the user's words."""

from __future__ import annotations

from dtsctl.cluster.tasks import unsupported_reason
from tests.unit.config.test_config_operations import SQLITE_PAIR


def test_the_runtime_defaults_to_local_and_etcd_needs_endpoints(write, load, problems) -> None:
    assert load(write({"main.dts.yaml": SQLITE_PAIR})).settings.runtime is None
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd, endpoints: ['http://10.0.0.1:2379/']}\n"})
    runtime = load(root).settings.runtime
    assert (runtime.backend, runtime.endpoints, runtime.prefix, runtime.lease_seconds) == (
        "etcd", ["http://10.0.0.1:2379"], "/dtsctl", 10)


def test_every_runtime_problem_is_reported_at_once(write, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd, endpoints: ['ftp://x'], "
                                                 "prefix: 'bad/', tls: {cert: c.pem}, lease_seconds: 3, "
                                                 "subscriptions: {nats: ['http://x', 'tls://y:4222'], replicas: 7}}\n"})
    assert problems(root) == [
        "main.dts.yaml:5: workspace.runtime.endpoints: `ftp://x` not an etcd client URL; write each as "
        'http(s)://host:port, e.g. `endpoints: ["http://10.0.0.1:2379"]`',
        "main.dts.yaml:5: workspace.runtime.prefix: prefix `bad/` must be a key path such as /dtsctl/prod: a leading "
        "/, letters, digits, _ . - between slashes, no trailing /",
        "main.dts.yaml:5: workspace.runtime.tls: a client certificate needs both `cert` and `key`",
        "main.dts.yaml:5: workspace.runtime.lease_seconds: got 3; expected a whole number from 6 to 300, e.g. "
        "`lease_seconds: 10`",
        "main.dts.yaml:5: workspace.runtime.subscriptions.nats: `http://x` not a NATS server URL; write each as "
        'nats://host:port, e.g. `nats: ["nats://10.0.0.1:4222"]`',
        "main.dts.yaml:5: workspace.runtime.subscriptions.replicas: got 7; expected a whole number from 1 to 5, e.g. "
        "`replicas: 3`",
    ]
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd}\n"})
    assert problems(root) == ["main.dts.yaml:5: workspace.runtime: backend etcd needs `endpoints`: the client URLs "
                              'of the etcd members, e.g. `endpoints: ["http://10.0.0.1:2379"]`']


SUBSCRIPTION = SQLITE_PAIR + """tasks:
  feed:
    type: subscription
    source: a
    objects: [{database: main, all: true}]
"""
ETCD = "workspace:\n  runtime: {backend: etcd, endpoints: ['http://10.0.0.1:2379']%s}\n"


def test_subscriptions_name_the_nats_servers_with_three_replicas_by_default(write, load) -> None:
    root = write({"main.dts.yaml": SUBSCRIPTION + ETCD % ", subscriptions: {nats: ['nats://10.0.0.1:4222/']}"})
    subscriptions = load(root).settings.runtime.subscriptions
    assert (subscriptions.nats, subscriptions.replicas, subscriptions.username) == (["nats://10.0.0.1:4222"], 3, None)


def test_a_subscription_on_the_etcd_runtime_without_nats_is_a_validate_error(write, load, problems) -> None:
    root = write({"main.dts.yaml": SUBSCRIPTION + ETCD % ""})
    assert problems(root) == [
        "main.dts.yaml:5: task.feed: a subscription on the etcd runtime keeps its records in NATS JetStream; name "
        "its servers in `workspace.runtime.subscriptions`, e.g. `subscriptions: {nats: [\"nats://10.0.0.1:4222\", "
        "\"nats://10.0.0.2:4222\", \"nats://10.0.0.3:4222\"]}`"]
    assert load(write({"main.dts.yaml": SQLITE_PAIR + ETCD % ""})).settings.runtime.subscriptions is None  # none needed


def test_subscriptions_on_the_local_runtime_are_refused(write, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {subscriptions: {nats: ['nats://y:4222']}}\n"})
    assert problems(root) == ["main.dts.yaml:5: workspace.runtime: `subscriptions` applies to backend etcd only: on "
                              "the local runtime a subscription keeps its records in a file of its task"]


def test_the_cluster_runtime_refuses_only_the_subscriptions_it_cannot_resume() -> None:
    table = {"type": "subscription", "source_endpoint": {"engine": "mysql"}}
    assert unsupported_reason(table) is None
    assert "`deliver_to` keeps its cursor on one host" in unsupported_reason({**table, "deliver_to": {"stream": "s"}})
    assert unsupported_reason({**table, "source_endpoint": {"engine": "redis"}}) == (
        "subscriptions on redis sources cannot resume on another host yet; run them on the local runtime")
