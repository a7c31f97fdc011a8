"""A one-to-many MariaDB topology through the dtsctl CLI (issue 5): one source, three
destinations, the source's binlog read by one connection into one shared change log."""

from __future__ import annotations


import pytest

from tests.e2e.cli import Workspace, kill_agent, wait_for
from tests.e2e.test_mysql_cli import WriteLoad, same, seed_shop
from tests.e2e.test_two_way_mysql import endpoint

pytestmark = pytest.mark.e2e

DESTINATIONS = ("d1", "d2", "d3")


def binlog_readers(server) -> int:
    return sum(1 for row in server.query("SHOW PROCESSLIST") if row[4] == "Binlog Dump")


def declaration(src, destinations: dict, database: str) -> str:
    return fan_declaration(endpoint, src, destinations, f"[{{database: {database}, all: true}}]")


def fan_declaration(endpoint_of, src, destinations: dict, objects: str) -> str:
    """A one-to-many topology `fan` from src to the named destinations (any engine)."""
    lines = "\n".join(f"          {name}: {endpoint_of(server)}" for name, server in destinations.items())
    return f"""
        endpoints:
          src: {endpoint_of(src)}
{lines}
        topologies:
          fan:
            type: one-to-many
            endpoints: [src, {', '.join(destinations)}]
            objects: {objects}
            retry: {{connection_minutes: 2, other_minutes: 2}}
        """


def test_three_destinations_read_the_source_once_and_survive_the_readers_death(
        workspace: Workspace, mariadb_pair, mariadb_factory, shared_database) -> None:
    src, first = mariadb_pair
    servers = {"d1": first, "d2": mariadb_factory(), "d3": mariadb_factory()}
    database = shared_database(src, *servers.values())
    seed_shop(src, database, orders=20_000)
    workspace.write("main.dts.yaml", declaration(src, servers, database))
    load = WriteLoad(src, database)
    load.start()
    try:
        workspace.run("apply", "--auto-approve")
        for name in DESTINATIONS:
            workspace.run("wait", f"topology.fan.task.{name}", "--timeout", "120")
        assert binlog_readers(src) == 1, "one binlog connection for the three destinations"
        assert [path.name for path in (workspace.runtime / "shared").iterdir()] == ["topology.fan"]

        # kill -9 every agent in turn: whichever reads, another takes over, nothing is lost
        for name in DESTINATIONS:
            kill_agent(workspace, f"topology.fan.task.{name}")
            wait_for(lambda: binlog_readers(src) == 1, timeout=30, what="one binlog reader again")
    finally:
        load.stop.set()
        load.join()
    assert load.committed > 100
    for server in servers.values():
        wait_for(lambda: same(src, database, server, database, ["orders", "customers"]), timeout=120,
                 what="every destination equal to the source")
    assert binlog_readers(src) == 1

    workspace.run("destroy", "--auto-approve")
    assert not (workspace.runtime / "shared" / "topology.fan").exists()
    wait_for(lambda: binlog_readers(src) == 0, timeout=30, what="the binlog connection closed")
