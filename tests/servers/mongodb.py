"""Private MongoDB-wire servers for the tests: ``nx-27017`` (PyPI, SQLite-backed), and a real
replica set when ``DTSCTL_TEST_MONGODB_URI`` names one.

No real ``mongod`` can be installed on the test machine (no Debian package; every installer
downloads it at run time), so the suite starts ``nx-27017`` itself, installed with the test
extra of pyproject.toml. Each instance gets its own directory, port, ``--pid-file`` and
``--log-file`` (a second instance sharing the defaults refuses to start). Where nx-27017
differs from MongoDB (docs/engine.md lists how), the tests that need the real behaviour run
against ``DTSCTL_TEST_MONGODB_URI`` and are skipped with that reason otherwise.

Fixtures (function-scoped, closed after the test):

* ``mongodb_source``, ``mongodb_destination``: a fresh nx-27017 each;
* ``real_mongodb``: a client of ``DTSCTL_TEST_MONGODB_URI`` (skips naming it when unset).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest

from tests.servers.process import ServerProcess, start_all

REAL_URI_VARIABLE = "DTSCTL_TEST_MONGODB_URI"
NEEDS_REAL = (f"needs a real MongoDB replica set: set {REAL_URI_VARIABLE} to its URI "
              "(nx-27017 lacks this behaviour, see docs/engine.md)")
INSTALL_HINT = "nx-27017 is missing: install the test extra (bash scripts/bootstrap.sh test, or pip install nx-27017)"


def nx_binary() -> str:
    """nx-27017 beside this interpreter (the venv's), else on PATH; fails saying what to install."""
    beside = Path(sys.executable).parent / "nx-27017"
    found = str(beside) if beside.exists() else shutil.which("nx-27017")
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


class NxMongoServer(ServerProcess):
    """One nx-27017 process: data in its directory, so a restart keeps it."""

    kind = "nx27017"
    startup_timeout = 30.0

    def command(self) -> list[str]:
        return [nx_binary(), "--host", self.host, "--port", str(self.port), "--data-dir", str(self.dir / "data"),
                "--pid-file", str(self.dir / "nx.pid"), "--log-file", str(self.log_path())]

    def log_path(self) -> Path:
        return self.dir / "nx.log"

    def prepare(self) -> None:
        (self.dir / "data").mkdir(exist_ok=True)

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def endpoint(self) -> dict[str, object]:
        return {"engine": "mongodb", "host": self.host, "port": self.port}

    def client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=3000)

    def ping(self) -> bool:
        with self.client() as client:
            client.admin.command("ping")
        return True


@pytest.fixture
def mongodb_pair() -> Iterator[tuple[NxMongoServer, NxMongoServer]]:
    """(source, destination): two fresh nx-27017 servers, booted together."""
    servers = [NxMongoServer(), NxMongoServer()]
    try:
        start_all(servers)  # type: ignore[arg-type]
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def real_mongodb() -> Iterator[pymongo.MongoClient]:
    """A client of the replica set `DTSCTL_TEST_MONGODB_URI` names; the test is skipped without it."""
    uri = os.environ.get(REAL_URI_VARIABLE)
    if not uri:
        pytest.skip(NEEDS_REAL)
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        client.close()
