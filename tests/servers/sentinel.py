"""A Sentinel-managed Redis: a master, its replica and a ``redis-server --sentinel`` trio.

Each master is a :class:`RedisServer` with one replica; three Sentinels (quorum 2) monitor
every master, with short ``down-after-milliseconds`` and ``failover-timeout`` so a
failover takes a couple of seconds. A Sentinel rewrites its config file as it learns,
so ``prepare`` writes a fresh one before every start.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.servers import binaries
from tests.servers.process import ServerProcess, ServerStartError, make_dir, start_all
from tests.servers.redis import RedisServer

DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelNode(ServerProcess):
    """One ``redis-server --sentinel`` monitoring the named masters."""

    kind = "redis-sentinel"
    startup_timeout = 20.0

    def __init__(self, masters: dict[str, RedisServer], *, password: str | None = None, base_dir: Any = None) -> None:
        super().__init__(base_dir=base_dir)
        self.masters = masters
        self.password = password

    def log_path(self):  # type: ignore[no-untyped-def]
        return self.dir / "sentinel.log"

    def prepare(self) -> None:
        binaries.ensure_installed(binaries.REDIS_BINARIES)
        lines = [f"port {self.port}", "bind 127.0.0.1", "daemonize no", f"dir {self.dir}",
                 f"logfile {self.log_path()}"]
        if self.password:  # clients and the other Sentinels authenticate with it
            lines += [f"requirepass {self.password}", f"sentinel sentinel-pass {self.password}"]
        for name, master in self.masters.items():
            lines += [f"sentinel monitor {name} {master.host} {master.port} 2",
                      f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
                      f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
                      f"sentinel parallel-syncs {name} 1"]
        (self.dir / "sentinel.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [binaries.path("redis-server"), str(self.dir / "sentinel.conf"), "--sentinel"]

    def ping(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(host=self.host, port=self.port, password=self.password, protocol=2,
                              decode_responses=True, retry=Retry(NoBackoff(), 0))


class SentinelGroup:
    """Masters (each with one replica) watched by three Sentinels (which require `password` if given).

    ``group.servers[name]`` is (master, replica) as started; after a failover
    :meth:`master` says which of them is the master now.
    """

    def __init__(self, names: Sequence[str] = ("mymaster",), sentinels: int = 3, password: str | None = None) -> None:
        self.dir = make_dir("redis-sentinel-group")
        self.password = password
        self.servers: dict[str, tuple[RedisServer, RedisServer]] = {
            name: (RedisServer(base_dir=self.dir / f"{name}-a"), RedisServer(base_dir=self.dir / f"{name}-b"))
            for name in names}
        masters = {name: pair[0] for name, pair in self.servers.items()}
        self.sentinels = [SentinelNode(masters, password=password, base_dir=self.dir / f"sentinel{n}")
                          for n in range(sentinels)]

    @property
    def hosts(self) -> list[str]:
        """The Sentinels as a declaration lists them (`sentinel.hosts`)."""
        return [f"{s.host}:{s.port}" for s in self.sentinels]

    def start(self, timeout: float = 60.0) -> "SentinelGroup":
        start_all([master for master, _ in self.servers.values()])
        for master, replica in self.servers.values():
            replica.args = ["--replicaof", master.host, str(master.port)]
        start_all([replica for _, replica in self.servers.values()])
        for master, replica in self.servers.values():
            self._wait_replicating(master, replica, time.monotonic() + timeout)
        start_all(self.sentinels)
        for name in self.servers:
            self._wait_known(name, time.monotonic() + timeout)
        return self

    def master(self, name: str = "mymaster") -> RedisServer:
        """The server the Sentinels name as the master now."""
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(name)
        return next(server for server in self.servers[name] if server.port == int(port))

    def replica(self, name: str = "mymaster") -> RedisServer:
        master = self.master(name)
        return next(server for server in self.servers[name] if server is not master)

    def failover(self, name: str = "mymaster", *, kill: bool = False, timeout: float = 60.0) -> RedisServer:
        """Promote the replica once it has every write; returns the new master.

        `SENTINEL FAILOVER` by default: the old master stays up, takes writes until the
        Sentinels make it a replica of the new one, and then follows it. With `kill`, the
        master is killed -9 and the Sentinels promote the replica once they see it down."""
        old, new = self.master(name), self.replica(name)
        self._wait_replicating(old, new, time.monotonic() + timeout)
        if kill:
            old.kill()
        else:
            self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", name)
        deadline = time.monotonic() + timeout
        _poll(lambda: new.client().info("replication")["role"] == "master"
              and all(int(s.client().sentinel_get_master_addr_by_name(name)[1]) == new.port for s in self.sentinels),
              deadline, f"the Sentinels did not promote {new!r} for {name}")
        if not kill:
            self._wait_replicating(new, old, deadline)  # the old master follows the new one
        return new

    def _wait_replicating(self, master: RedisServer, replica: RedisServer, deadline: float) -> None:
        """Until `replica` is connected to `master` and has every byte of its stream."""
        def caught_up() -> bool:
            info = replica.client().info("replication")
            return (info.get("master_port") == master.port and info.get("master_link_status") == "up"
                    and info.get("slave_repl_offset") == master.client().info("replication")["master_repl_offset"])

        _poll(caught_up, deadline, f"{replica!r} did not catch up with {master!r}")

    def _wait_known(self, name: str, deadline: float) -> None:
        """Until every Sentinel knows the other Sentinels and the replica of `name` (needed to fail over)."""
        def known() -> bool:
            states = [s.client().sentinel_master(name) for s in self.sentinels]
            return all(int(state["num-other-sentinels"]) == len(self.sentinels) - 1 and int(state["num-slaves"]) >= 1
                       for state in states)

        _poll(known, deadline, f"the Sentinels did not discover each other for {name}")

    def close(self) -> None:
        import shutil

        from tests.servers.process import keep_dirs

        for server in [*self.sentinels, *(s for pair in self.servers.values() for s in pair)]:
            server.close()
        if not keep_dirs():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<SentinelGroup {list(self.servers)} sentinels={self.hosts} dir={self.dir}>"


def _poll(condition: Callable[[], bool], deadline: float, failure: str) -> None:
    """Until `condition` holds (a Redis error counts as not yet), or ServerStartError(failure) at `deadline`."""
    while True:
        try:
            if condition():
                return
        except (redis_py.RedisError, TypeError):  # TypeError: no master address known yet
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(failure)
        time.sleep(0.05)
