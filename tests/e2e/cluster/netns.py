"""Hosts for the cluster failure tests: one network namespace per node, each joined to a bridge
in the test's namespace by a veth pair, on a private /24 that exists only on this machine.

    test namespace: bridge <br> 10.213.N.1/24  (etcd members and MariaDB listen here)
    node i:         netns <ns-i>, veth 10.213.N.(10+i)/24, default route via 10.213.N.1

Cutting a node's link (`link_down`) is `ip link set <host end> down`: the node and its agents
lose etcd and the databases at once, as when a host's network fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def require_root() -> None:
    if os.geteuid() != 0:
        raise AssertionError("the cluster failure tests need root for network namespaces (ip netns, veth, bridge): "
                             "run them as root (CI does)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _free_subnet() -> int:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    for third in range(os.getpid() % 200 + 20, 256):
        if f"10.213.{third}." not in used:
            return third
    raise AssertionError("no free 10.213.N.0/24 subnet for the test bridge")


class Network:
    def __init__(self, hosts: int) -> None:
        require_root()
        tag = f"{os.getpid() % 10000:04d}"
        self.subnet = _free_subnet()
        self.bridge = f"dtsb{tag}"
        self.namespaces = [f"dtsctl-{tag}-{i}" for i in range(hosts)]
        self.host_ends = [f"dtsv{tag}{i}" for i in range(hosts)]
        self._made: list[tuple[str, ...]] = []

    @property
    def gateway(self) -> str:
        return f"10.213.{self.subnet}.1"

    def address(self, index: int) -> str:
        return f"10.213.{self.subnet}.{10 + index}"

    def create(self) -> "Network":
        _ip("link", "add", self.bridge, "type", "bridge")
        self._made.append(("link", "del", self.bridge))
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, (namespace, host_end) in enumerate(zip(self.namespaces, self.host_ends)):
            inside = f"dtsn{host_end[4:]}"
            _ip("netns", "add", namespace)
            self._made.append(("netns", "del", namespace))
            _ip("link", "add", host_end, "type", "veth", "peer", "name", inside)
            self._made.append(("link", "del", host_end))
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("link", "set", inside, "netns", namespace)
            for command in (("addr", "add", f"{self.address(index)}/24", "dev", inside),
                            ("link", "set", inside, "up"), ("link", "set", "lo", "up"),
                            ("route", "add", "default", "via", self.gateway)):
                _ip("-n", namespace, *command)
        return self

    def wrap(self, index: int) -> list[str]:
        """The command prefix that runs a program inside host `index`'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[index]]

    def link_down(self, index: int) -> None:
        _ip("link", "set", self.host_ends[index], "down")

    def link_up(self, index: int) -> None:
        _ip("link", "set", self.host_ends[index], "up")

    def close(self) -> None:
        for command in reversed(self._made):
            subprocess.run(["ip", *command], capture_output=True)
        self._made.clear()


def namespace_of(pid: int) -> str:
    return os.readlink(Path("/proc") / str(pid) / "ns" / "net")
