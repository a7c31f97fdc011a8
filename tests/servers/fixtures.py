"""pytest plugin: private MariaDB / Redis servers for the test suite.

Register once in the top-level ``tests/conftest.py``::

    pytest_plugins = ["tests.servers.fixtures"]

Session-scoped, started on first use, stopped at session end (and at interpreter
exit / with the test process, see ``tests.servers.process``):

* ``mariadb_source`` (server-id 1), ``mariadb_destination`` (server-id 2)
* ``mariadb_pair`` -> (source, destination), booted in parallel
* ``redis_source``, ``redis_destination``, ``redis_cluster`` (3 masters)

They are shared by every test, so isolate with:

* ``fresh_database(server, prefix=None) -> name``: a uniquely named database,
  dropped after the test;
* ``flush_redis(server_or_cluster) -> client``: FLUSHALL now and after the test;
* ``key_prefix``: a unique ``"t:<test>:<hex>:"`` string for Redis keys.

A test may stop / kill / restart a shared server: after each test, any shared
server that is not running is started again (same port and data).

Function-scoped factories for servers with custom options (closed after the test):

* ``mariadb_factory(**MariaDBServer kwargs)``, e.g.
  ``mariadb_factory(log_bin=False)`` or
  ``mariadb_factory(extra_args=["--binlog-format=STATEMENT"])``;
* ``redis_factory(**RedisServer kwargs)``, e.g.
  ``redis_factory(password="s3cret", config=["repl-backlog-size 16kb"])``;
* ``redis_sentinel_factory(names=("mymaster",))``: a master and a replica per name,
  watched by a ``redis-server --sentinel`` trio (tests.servers.sentinel).

Missing binaries are installed with apt-get when running as root; otherwise the
test fails (never skips) saying what to install.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Union

import pytest

from tests.servers.binaries import MissingBinaryError
from tests.servers.mariadb import MariaDBServer
from tests.servers.process import start_all
from tests.servers.redis import RedisCluster, RedisServer
from tests.servers.sentinel import SentinelGroup

AnyServer = Union[MariaDBServer, RedisServer, RedisCluster]

_SPECS: dict[str, Callable[[], AnyServer]] = {
    "mariadb_source": lambda: MariaDBServer(server_id=1),
    "mariadb_destination": lambda: MariaDBServer(server_id=2),
    "redis_source": lambda: RedisServer(),
    "redis_destination": lambda: RedisServer(),
    "redis_cluster": lambda: RedisCluster(3),
}

# Factory servers get server-ids that never clash with the shared ones.
_factory_server_ids = itertools.count(100)


def _fail_missing(exc: MissingBinaryError) -> None:
    pytest.fail(str(exc), pytrace=False)


class SessionServers:
    """The shared servers of this test process, started on demand."""

    def __init__(self) -> None:
        self.servers: dict[str, AnyServer] = {}

    def get(self, name: str) -> AnyServer:
        return self.get_many([name])[0]

    def get_many(self, names: list[str]) -> list[AnyServer]:
        new = {n: _SPECS[n]() for n in names if n not in self.servers}
        if new:
            try:
                singles = [s for s in new.values() if not isinstance(s, RedisCluster)]
                start_all(singles)  # launched together, waited together
                for s in new.values():
                    if isinstance(s, RedisCluster):
                        s.start()
            except MissingBinaryError as exc:
                for s in new.values():
                    s.close()
                _fail_missing(exc)
            except BaseException:
                for s in new.values():
                    s.close()
                raise
            self.servers.update(new)
        return [self.servers[n] for n in names]

    def revive(self) -> None:
        """Start again any shared server a test left stopped or killed."""
        for s in self.servers.values():
            if isinstance(s, RedisCluster):
                if not s.running:
                    s.stop()
                    s.start()
            elif not s.running:
                s.start()

    def close(self) -> None:
        for s in self.servers.values():
            try:
                s.close()
            except Exception:  # pragma: no cover - best effort at session end
                pass
        self.servers.clear()


_session: SessionServers | None = None


@pytest.fixture(scope="session")
def dtsctl_servers() -> Iterator[SessionServers]:
    """The registry behind the shared-server fixtures."""
    global _session
    _session = SessionServers()
    try:
        yield _session
    finally:
        _session.close()
        _session = None


@pytest.fixture(autouse=True)
def _revive_shared_servers() -> Iterator[None]:
    yield
    if _session is not None:
        _session.revive()


@pytest.fixture(scope="session")
def mariadb_source(dtsctl_servers: SessionServers) -> MariaDBServer:
    """Shared MariaDB, server-id 1, binlog ROW/FULL/FULL; root has no password."""
    return dtsctl_servers.get("mariadb_source")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def mariadb_destination(dtsctl_servers: SessionServers) -> MariaDBServer:
    """Shared MariaDB, server-id 2 (same options as the source)."""
    return dtsctl_servers.get("mariadb_destination")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def mariadb_pair(dtsctl_servers: SessionServers) -> tuple[MariaDBServer, MariaDBServer]:
    """(mariadb_source, mariadb_destination), booted in parallel if neither runs yet."""
    src, dst = dtsctl_servers.get_many(["mariadb_source", "mariadb_destination"])
    return src, dst  # type: ignore[return-value]


@pytest.fixture(scope="session")
def redis_source(dtsctl_servers: SessionServers) -> RedisServer:
    """Shared Redis (no password, no persistence)."""
    return dtsctl_servers.get("redis_source")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def redis_destination(dtsctl_servers: SessionServers) -> RedisServer:
    """Shared Redis, a second server (same options as redis_source)."""
    return dtsctl_servers.get("redis_destination")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def redis_cluster(dtsctl_servers: SessionServers) -> RedisCluster:
    """Shared 3-master Redis Cluster; ``.client()`` is a redis.cluster.RedisCluster."""
    return dtsctl_servers.get("redis_cluster")  # type: ignore[return-value]


# -- per-test isolation ---------------------------------------------------------

def _test_slug(request: pytest.FixtureRequest, limit: int) -> str:
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", request.node.name).strip("_").lower()
    return slug[:limit] or "t"


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``fresh_database(server, prefix=None) -> name``: CREATE a uniquely named
    database on ``server`` (``t_<test>_<hex>``, <= 64 chars); DROPped after the test."""
    created: list[tuple[MariaDBServer, str]] = []

    def make(server: MariaDBServer, prefix: str | None = None) -> str:
        base = prefix or f"t_{_test_slug(request, 40)}"
        name = f"{base[:55]}_{secrets.token_hex(4)}"
        server.create_database(name)
        created.append((server, name))
        return name

    yield make
    for server, name in created:
        if server.running:
            server.drop_database(name)


@pytest.fixture
def flush_redis() -> Iterator[Callable[[RedisServer | RedisCluster], Any]]:
    """``flush_redis(server_or_cluster) -> client``: FLUSHALL now and after the test."""
    used: list[tuple[RedisServer | RedisCluster, Any]] = []

    def flush(server: RedisServer | RedisCluster) -> Any:
        server.flush()
        client = server.client()
        used.append((server, client))
        return client

    yield flush
    for server, client in used:
        try:
            client.close()
        except Exception:
            pass
        if server.running:
            server.flush()


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest) -> str:
    """A unique Redis key prefix for this test: ``t:<test>:<hex>:``."""
    return f"t:{_test_slug(request, 40)}:{secrets.token_hex(3)}:"


# -- short-lived servers with custom options -------------------------------------

def _started_servers(kind: Callable[..., Any], defaults: Callable[[], dict[str, Any]] = dict) -> Iterator[Callable[..., Any]]:
    """A factory that builds and starts servers of `kind`, and closes every one of them afterwards."""
    servers: list[Any] = []

    def make(*args: Any, **kw: Any) -> Any:
        server = kind(*args, **{**defaults(), **kw})
        servers.append(server)
        try:
            server.start()
        except MissingBinaryError as exc:
            _fail_missing(exc)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def mariadb_factory() -> Iterator[Callable[..., MariaDBServer]]:
    """``mariadb_factory(**kwargs) -> MariaDBServer`` (started); closed after the test.
    kwargs as for MariaDBServer; server_id defaults to a unique id >= 100."""
    yield from _started_servers(MariaDBServer, lambda: {"server_id": next(_factory_server_ids)})


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """``redis_factory(**kwargs) -> RedisServer`` (started); closed after the test."""
    yield from _started_servers(RedisServer)


@pytest.fixture
def redis_cluster_factory() -> Iterator[Callable[..., RedisCluster]]:
    """``redis_cluster_factory(size=3, config=..., password=...) -> RedisCluster``."""
    yield from _started_servers(RedisCluster)


@pytest.fixture
def redis_sentinel_factory() -> Iterator[Callable[..., SentinelGroup]]:
    """``redis_sentinel_factory(names=("mymaster",), password=None) -> SentinelGroup``: each named
    master with a replica, watched by three Sentinels; closed after the test."""
    yield from _started_servers(SentinelGroup)


def pytest_configure(config: Any) -> None:
    from tests.servers import process

    process.install_sigterm_handler()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line with the shared servers' start-up times (useful in CI logs)."""
    from tests.servers import process

    if not process.startup_log:
        return
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in process.startup_log:
        by_kind.setdefault(kind, []).append(seconds)
    parts = [
        f"{kind} x{len(v)} (mean {sum(v) / len(v):.2f}s, max {max(v):.2f}s)"
        for kind, v in sorted(by_kind.items())
    ]
    terminalreporter.write_line("dtsctl test servers started: " + ", ".join(parts))
