"""Private etcd members (a 1- or 3-member cluster) on free loopback ports in temp dirs.

Each member is a child process like the MariaDB and Redis servers (tests/servers/process.py):
SIGKILL is a crash, `restart` keeps its data directory and ports. The cluster's client URLs
are what a workspace's `runtime.endpoints` lists.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.servers import binaries
from tests.servers.ports import free_port
from tests.servers.process import ServerProcess, make_dir, start_all
from tests.servers.tls import TestCertificates


class EtcdMember(ServerProcess):
    kind = "etcd"
    startup_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, name: str, peer_port: int, cluster: str, token: str, host: str = "127.0.0.1",
                 tls: TestCertificates | None = None, extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(base_dir=make_dir(f"etcd-{name}"))
        self.name, self.peer_port, self.cluster, self.token, self.host = name, peer_port, cluster, token, host
        self.tls, self.extra_args = tls, extra_args

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def open(self, path: str, body: bytes | None = None, timeout: float = 2) -> dict:
        """POST `body` (GET without) to the member's gateway, with the client certificate under TLS."""
        request = urllib.request.Request(f"{self.url}{path}", data=body, method="POST" if body is not None else "GET")
        context = self.tls.client_context() if self.tls else None
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
            return json.loads(answer.read())

    def command(self) -> list[str]:
        secured = [] if self.tls is None else [
            "--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
            "--trusted-ca-file", str(self.tls.ca), "--client-cert-auth"]
        return [binaries.path("etcd"), *secured, *self.extra_args, "--name", self.name, "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://{self.host}:{self.peer_port}",
                "--initial-advertise-peer-urls", f"http://{self.host}:{self.peer_port}",
                "--initial-cluster", self.cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token, "--logger", "zap", "--log-outputs", "stderr",
                "--heartbeat-interval", "100", "--election-timeout", "1000"]

    def log_path(self) -> Path:
        return self.dir / "stdout.log"

    def ping(self) -> bool:
        return self.open("/health", timeout=1).get("health") == "true"

    def is_leader(self) -> bool:
        status = self.open("/v3/maintenance/status", b"{}")
        return status.get("leader") == status["header"].get("member_id")


class EtcdCluster:
    """`size` members that form one cluster, started in parallel."""

    def __init__(self, size: int = 1, host: str = "127.0.0.1", tls: TestCertificates | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        """`tls`: clients connect over HTTPS with a certificate of its CA (peers stay plain HTTP)."""
        peers = {f"m{index}": free_port(host) for index in range(size)}
        cluster = ",".join(f"{name}=http://{host}:{port}" for name, port in peers.items())
        token = f"dtsctl-test-{next(iter(peers.values()))}"
        self.members = [EtcdMember(name, port, cluster, token, host, tls, extra_args) for name, port in peers.items()]

    @property
    def endpoints(self) -> list[str]:
        return [member.url for member in self.members]

    def start(self, timeout: float | None = None) -> "EtcdCluster":
        for member in self.members:
            member.port = free_port(member.host)
        start_all(self.members, timeout)  # type: ignore[arg-type]
        return self

    def leader(self) -> EtcdMember:
        return next(member for member in self.members if member.running and member.is_leader())

    def close(self) -> None:
        for member in self.members:
            member.close()
