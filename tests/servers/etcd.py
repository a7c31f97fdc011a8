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


class EtcdMember(ServerProcess):
    kind = "etcd"
    startup_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, name: str, peer_port: int, cluster: str, token: str, host: str = "127.0.0.1") -> None:
        super().__init__(base_dir=make_dir(f"etcd-{name}"))
        self.name, self.peer_port, self.cluster, self.token, self.host = name, peer_port, cluster, token, host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [binaries.path("etcd"), "--name", self.name, "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://{self.host}:{self.peer_port}",
                "--initial-advertise-peer-urls", f"http://{self.host}:{self.peer_port}",
                "--initial-cluster", self.cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token, "--logger", "zap", "--log-outputs", "stderr",
                "--heartbeat-interval", "100", "--election-timeout", "1000"]

    def log_path(self) -> Path:
        return self.dir / "stdout.log"

    def ping(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
            return json.loads(answer.read()).get("health") == "true"

    def is_leader(self) -> bool:
        request = urllib.request.Request(f"{self.url}/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=2) as answer:
            status = json.loads(answer.read())
        return status.get("leader") == status["header"].get("member_id")


class EtcdCluster:
    """`size` members that form one cluster, started in parallel."""

    def __init__(self, size: int = 1, host: str = "127.0.0.1") -> None:
        peers = {f"m{index}": free_port(host) for index in range(size)}
        cluster = ",".join(f"{name}=http://{host}:{port}" for name, port in peers.items())
        token = f"dtsctl-test-{next(iter(peers.values()))}"
        self.members = [EtcdMember(name, port, cluster, token, host) for name, port in peers.items()]

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
