"""`workspace.runtime`: the local runtime stays the default; the etcd one is validated in the user's words."""

from __future__ import annotations

from tests.unit.config.test_config_operations import SQLITE_PAIR


def test_the_runtime_defaults_to_local_and_etcd_needs_endpoints(write, load, problems) -> None:
    assert load(write({"main.dts.yaml": SQLITE_PAIR})).settings.runtime is None
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd, endpoints: ['http://10.0.0.1:2379/']}\n"})
    runtime = load(root).settings.runtime
    assert (runtime.backend, runtime.endpoints, runtime.prefix, runtime.lease_seconds) == (
        "etcd", ["http://10.0.0.1:2379"], "/dtsctl", 10)


def test_every_runtime_problem_is_reported_at_once(write, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd, endpoints: ['ftp://x'], "
                                                 "prefix: 'bad/', tls: {cert: c.pem}, lease_seconds: 3}\n"})
    assert problems(root) == [
        "main.dts.yaml:5: workspace.runtime.endpoints: `ftp://x` not an etcd client URL; write each as "
        'http(s)://host:port, e.g. `endpoints: ["http://10.0.0.1:2379"]`',
        "main.dts.yaml:5: workspace.runtime.prefix: prefix `bad/` must be a key path such as /dtsctl/prod: a leading "
        "/, letters, digits, _ . - between slashes, no trailing /",
        "main.dts.yaml:5: workspace.runtime.tls: a client certificate needs both `cert` and `key`",
        "main.dts.yaml:5: workspace.runtime.lease_seconds: got 3; expected a whole number from 6 to 300, e.g. "
        "`lease_seconds: 10`",
    ]
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  runtime: {backend: etcd}\n"})
    assert problems(root) == ["main.dts.yaml:5: workspace.runtime: backend etcd needs `endpoints`: the client URLs "
                              'of the etcd members, e.g. `endpoints: ["http://10.0.0.1:2379"]`']
