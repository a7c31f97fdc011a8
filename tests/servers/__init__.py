"""Private MariaDB and Redis servers for the test suite.

Real ``mariadbd`` / ``redis-server`` processes on free loopback ports in temporary
directories -- never the machine's own servers on 3306 / 6379.

Library use::

    from tests.servers import MariaDBServer, RedisServer, RedisCluster
    with MariaDBServer(server_id=7) as db:      # start() on enter, close() on exit
        db.execute("CREATE DATABASE x")

pytest use: register the plugin once in the top-level ``tests/conftest.py``::

    pytest_plugins = ["tests.servers.fixtures"]

and request ``mariadb_source``, ``mariadb_destination``, ``redis_source``,
``redis_destination``, ``redis_cluster``, ``fresh_database``, ``flush_redis``,
``mariadb_factory``, ``redis_factory`` or ``redis_sentinel_factory``.
"""

from tests.servers.binaries import MissingBinaryError, ensure_installed
from tests.servers.mariadb import MariaDBServer
from tests.servers.ports import free_port
from tests.servers.process import ServerStartError
from tests.servers.redis import RedisCluster, RedisServer
from tests.servers.sentinel import SentinelGroup

__all__ = [
    "MariaDBServer",
    "MissingBinaryError",
    "RedisCluster",
    "RedisServer",
    "SentinelGroup",
    "ServerStartError",
    "ensure_installed",
    "free_port",
]
