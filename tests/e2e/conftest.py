from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace
from tests.servers.mariadb import MariaDBServer


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path)
    yield ws
    ws.kill_everything()


@pytest.fixture
def shared_database(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``shared_database(*servers) -> name``: the same uniquely named database on every server
    (a two-way pair replicates a database under one name); dropped after the test."""
    made: list[tuple[MariaDBServer, str]] = []

    def make(*servers: MariaDBServer) -> str:
        name = f"tw_{request.node.name[:30].strip('_')}_{os.urandom(3).hex()}".replace("[", "_").replace("]", "")
        for server in servers:
            server.create_database(name)
            made.append((server, name))
        return name

    yield make
    for server, name in made:
        if server.running:
            server.drop_database(name)
