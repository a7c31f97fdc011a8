"""Private ``redis-server`` processes (and a 3-node cluster) on free loopback ports.

No persistence (``save ""``, ``appendonly no``): a restart starts empty, which
tests rely on. Redis still writes ``dump.rdb`` when it serves a replica's full
sync and would reload it on restart, so ``prepare`` removes it before every start. Runs in the foreground as our child (``daemonize no``) so it can
be SIGKILLed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as RedisClusterClient

from tests.servers import binaries
from tests.servers.process import ServerProcess, ServerStartError, make_dir, start_all


class RedisServer(ServerProcess):
    """A private Redis server.

    Parameters:
        config: extra redis.conf lines, e.g. ``["repl-backlog-size 16kb",
            "user alice on >secret ~* &* +@all"]``.
        args: extra command-line arguments (``["--repl-backlog-size", "16kb"]``);
            they override redis.conf.
        password: ``requirepass``; :meth:`client` then authenticates with it.
        cluster: ``cluster-enabled yes`` with its own ``cluster-port``
            (used by :class:`RedisCluster`).
    """

    kind = "redis"
    startup_timeout = 20.0
    stop_timeout = 15.0

    def __init__(
        self,
        *,
        config: Sequence[str] = (),
        args: Sequence[str] = (),
        password: str | None = None,
        cluster: bool = False,
        port: int | None = None,
        base_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(base_dir=base_dir)
        self.config = list(config)
        self.args = list(args)
        self.password = password
        self.cluster = cluster
        self.cluster_port: int | None = None
        self.port = port
        if cluster:
            self.kind = "redis-cluster-node"

    @property
    def conf_path(self) -> Path:
        return self.dir / "redis.conf"

    def log_path(self) -> Path:
        return self.dir / "redis.log"

    def prepare(self) -> None:
        binaries.ensure_installed(binaries.REDIS_BINARIES)
        (self.dir / "dump.rdb").unlink(missing_ok=True)  # written for a replica's sync; a restart starts empty
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            'save ""',
            "appendonly no",
            "daemonize no",
            f"dir {self.dir}",
            f"logfile {self.log_path()}",
            f"pidfile {self.dir / 'redis.pid'}",
            "databases 16",
        ]
        if self.password is not None:
            lines.append(f"requirepass {self.password}")
        if self.cluster:
            if self.cluster_port is None:
                # Default bus port is port+10000, which may be taken or > 65535.
                from tests.servers.ports import free_port

                self.cluster_port = free_port(self.host)
            lines += [
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                f"cluster-port {self.cluster_port}",
                "cluster-node-timeout 5000",
            ]
        lines += self.config
        self.conf_path.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [binaries.path("redis-server"), str(self.conf_path), *self.args]

    def ping(self) -> bool:
        # Raw RESP so a requirepass / ACL default user does not matter: NOAUTH
        # also proves the server is up and serving commands.
        with socket.create_connection((self.host, self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
        return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")

    # -- clients -------------------------------------------------------------
    def connection_kwargs(self, **kw: Any) -> dict:
        params: dict[str, Any] = {"host": self.host, "port": self.port}
        if self.password is not None:
            params["password"] = self.password
        params.update(kw)
        return params

    def client(self, **kw: Any) -> redis_py.Redis:
        """A ``redis.Redis`` for this server (password applied); kwargs override,
        e.g. ``client(db=3, decode_responses=True, username="alice", password="x")``.

        Fails fast: no retries (redis-py 8 otherwise retries 3 times with backoff,
        ~3.5 s per failing call, auth errors included). Pass ``retry=...`` to change.
        Note redis-py 8 speaks RESP3 unless ``protocol=2``."""
        kw.setdefault("retry", Retry(NoBackoff(), 0))
        return redis_py.Redis(**self.connection_kwargs(**kw))

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def flush(self) -> None:
        """FLUSHALL (every database)."""
        c = self.client()
        try:
            c.flushall()
        finally:
            c.close()

    def cli_args(self) -> list[str]:
        """argv prefix for ``redis-cli`` against this server."""
        args = [binaries.path("redis-cli"), "-h", self.host, "-p", str(self.port)]
        if self.password:
            args += ["-a", self.password, "--no-auth-warning"]
        return args


class RedisCluster:
    """Three (``size``) master-only Redis nodes joined with ``redis-cli --cluster create``."""

    def __init__(
        self,
        size: int = 3,
        *,
        config: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        if size < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.dir = make_dir("redis-cluster")
        self.password = password
        self.nodes = [
            RedisServer(cluster=True, config=config, password=password,
                        base_dir=self.dir / f"node{i}")
            for i in range(size)
        ]
        self.startup_seconds: float | None = None
        self._created = False

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]  # type: ignore[misc]

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode(n.host, n.port) for n in self.nodes]

    def start(self, timeout: float = 60.0) -> "RedisCluster":
        started = time.monotonic()
        start_all(self.nodes)
        if not self._created:
            cmd = [binaries.path("redis-cli")]
            if self.password:
                cmd += ["-a", self.password, "--no-auth-warning"]
            cmd += ["--cluster", "create", *[f"{n.host}:{n.port}" for n in self.nodes],
                    "--cluster-replicas", "0", "--cluster-yes"]
            result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, timeout=timeout)
            if result.returncode != 0:
                self.stop()
                raise ServerStartError(f"redis-cli --cluster create failed:\n{result.stdout}")
            self._created = True
        self.wait_ok(deadline=started + timeout)
        self.startup_seconds = time.monotonic() - started
        from tests.servers.process import startup_log

        startup_log.append(("redis-cluster", self.startup_seconds))
        return self

    def cluster_info(self, node: RedisServer | None = None) -> dict:
        c = (node or self.nodes[0]).client(decode_responses=True)
        try:
            return c.cluster("INFO")
        finally:
            c.close()

    def wait_ok(self, deadline: float) -> None:
        """Until every node reports cluster_state:ok and knows all slots."""
        last: Any = None
        while True:
            try:
                infos = [self.cluster_info(n) for n in self.nodes]
                last = infos
                if all(str(i.get("cluster_state")) == "ok"
                       and int(i.get("cluster_slots_ok", 0)) == 16384
                       and int(i.get("cluster_known_nodes", 0)) == len(self.nodes)
                       for i in infos):
                    return
            except Exception as exc:
                last = exc
            if time.monotonic() > deadline:
                raise ServerStartError(f"cluster did not reach cluster_state:ok: {last!r}")
            time.sleep(0.05)

    def client(self, **kw: Any) -> RedisClusterClient:
        """A ``redis.cluster.RedisCluster`` that routes by slot."""
        params: dict[str, Any] = {"startup_nodes": self.startup_nodes}
        if self.password is not None:
            params["password"] = self.password
        params.update(kw)
        return RedisClusterClient(**params)

    def flush(self) -> None:
        for n in self.nodes:
            n.flush()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def kill(self) -> None:
        for n in self.nodes:
            n.kill()

    def restart(self, timeout: float = 60.0) -> "RedisCluster":
        """Stop and start every node; the cluster re-forms from nodes.conf (data is lost)."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        import shutil

        from tests.servers.process import keep_dirs

        for n in self.nodes:
            n.close()
        if not keep_dirs():
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return all(n.running for n in self.nodes)

    def __enter__(self) -> "RedisCluster":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RedisCluster ports={self.ports} dir={self.dir}>"
