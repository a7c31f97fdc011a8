"""A private NATS JetStream cluster (1 or 3 servers) on free loopback ports in temp dirs.

Each server is a child process like the etcd members (tests/servers/etcd.py): SIGKILL is a
crash, `restart` keeps its JetStream directory and ports. Clients authenticate with a user and
password (the workspace's `subscriptions.username`, the password from DTSCTL_NATS_PASSWORD).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.servers import binaries
from tests.servers.ports import free_port
from tests.servers.process import ServerProcess, make_dir, start_all
from tests.servers.tls import TestCertificates

USER = "dtsctl"
PASSWORD = "nats-secret-3141"


class NatsServer(ServerProcess):
    kind = "nats"
    startup_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, name: str, route_port: int, routes: list[str], host: str = "127.0.0.1",
                 tls: TestCertificates | None = None) -> None:
        super().__init__(base_dir=make_dir(f"nats-{name}"))
        self.name, self.route_port, self.routes, self.host, self.tls = name, route_port, routes, host, tls
        self.monitor_port = free_port(host)

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://{self.host}:{self.port}"

    def prepare(self) -> None:
        cluster = "" if not self.routes else (
            f"cluster {{ name: dtsctl-test, listen: {self.host}:{self.route_port}, "
            f"routes: [{', '.join(self.routes)}] }}\n")
        (self.dir / "nats.conf").write_text(
            f"server_name: {self.name}\nlisten: {self.host}:{self.port}\nhttp: {self.host}:{self.monitor_port}\n"
            f"jetstream {{ store_dir: \"{self.dir / 'js'}\" }}\n{cluster}"
            f"authorization {{ user: {USER}, password: \"{PASSWORD}\" }}\n" + ("" if self.tls is None else
            f"tls {{ cert_file: \"{self.tls.server_cert}\", key_file: \"{self.tls.server_key}\", "
            f"ca_file: \"{self.tls.ca}\", verify: true }}\n"))

    def command(self) -> list[str]:
        return [binaries.path("nats-server"), "-c", str(self.dir / "nats.conf")]

    def log_path(self) -> Path:
        return self.dir / "stdout.log"

    def ping(self) -> bool:
        """Ready when JetStream is (in a cluster: once its meta group has a leader)."""
        with urllib.request.urlopen(f"http://{self.host}:{self.monitor_port}/healthz", timeout=1) as answer:
            return json.loads(answer.read()).get("status") == "ok"


class NatsCluster:
    """`size` servers routed into one JetStream cluster, started in parallel."""

    def __init__(self, size: int = 3, host: str = "127.0.0.1", tls: TestCertificates | None = None) -> None:
        """`tls`: clients connect with TLS and must present a certificate of its CA (routes stay plain)."""
        route_ports = {f"n{index}": free_port(host) for index in range(size)}
        routes = [f"nats-route://{host}:{port}" for port in route_ports.values()] if size > 1 else []
        self.servers = [NatsServer(name, port, routes, host, tls) for name, port in route_ports.items()]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self, timeout: float | None = None) -> "NatsCluster":
        start_all(self.servers, timeout)  # type: ignore[arg-type]
        return self

    def close(self) -> None:
        for server in self.servers:
            server.close()
