"""Two-way MariaDB pairs through the dtsctl CLI, against private servers (issue 5).

A pair is declared as a `two-way` topology: `forward` copies A to B and streams,
`reverse` streams B's own changes back to A. Each applier tags its transactions
with its origin, and the opposite reader drops exactly those, so nothing echoes.
"""

from __future__ import annotations

import json
import random
import threading
import time

import pymysql
import pytest

from tests.e2e.cli import Workspace, changelog_last_seq, kill_in_turn, wait_for
from tests.servers.mariadb import MariaDBServer

pytestmark = pytest.mark.e2e

FORWARD, REVERSE = "topology.geo.task.forward", "topology.geo.task.reverse"


def endpoint(server: MariaDBServer) -> str:
    return f"{{engine: mysql, host: 127.0.0.1, port: {server.port}, user: root, password: ''}}"


def pair_declaration(a: MariaDBServer, b: MariaDBServer, database: str, *, policy: str | None = None,
                     status: str = "running", more_endpoints: str = "", tasks: str = "") -> str:
    policy_line = f"conflict_policy: {policy}" if policy else ""
    return f"""
        endpoints:
          a: {endpoint(a)}
          b: {endpoint(b)}
          {more_endpoints}
        topologies:
          geo:
            type: two-way
            endpoints: [a, b]
            initial_sync_from: a
            objects: [{{database: {database}, all: true}}]
            status: {status}
            {policy_line}
            retry: {{connection_minutes: 2, other_minutes: 2}}
        {tasks}
        """


def rows(server: MariaDBServer, database: str, table: str = "items") -> list[tuple]:
    return list(server.query(f"SELECT * FROM `{database}`.`{table}` ORDER BY 1"))


def equal(*servers: MariaDBServer, database: str) -> bool:
    try:
        first = rows(servers[0], database)
        return all(rows(server, database) == first for server in servers[1:])
    except pymysql.err.ProgrammingError:  # not created on every side yet
        return False


def task_id(workspace: Workspace, address: str) -> str:
    state = json.loads((workspace.root / "state" / "dtsctl.state.json").read_text())
    return next(resource["task_id"] for resource in state["resources"] if resource["address"] == address)


def create_items(server: MariaDBServer, database: str, seed_rows: int) -> None:
    server.execute(f"CREATE TABLE `{database}`.items (id BIGINT PRIMARY KEY, side CHAR(1) NOT NULL, "
                   "n INT NOT NULL, note VARCHAR(40)) DEFAULT CHARSET=utf8mb4")
    if seed_rows:
        server.execute(f"INSERT INTO `{database}`.items SELECT seq, 'a', 0, 'seed' FROM `{database}`.seq_1_to_{seed_rows}")


def start_pair(workspace: Workspace, a: MariaDBServer, b: MariaDBServer, database: str, **options: str) -> None:
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, **options))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", FORWARD, "--timeout", "120")
    workspace.run("wait", REVERSE, "--timeout", "120")
    wait_for(lambda: equal(a, b, database=database), timeout=60, what="the initial copy")


class SideLoad(threading.Thread):
    """Multi-statement transactions on one side, on keys only this side writes (`base` + n)."""

    def __init__(self, server: MariaDBServer, database: str, side: str, base: int) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.side, self.base = server, database, side, base
        self.stop = threading.Event()
        self.committed = 0

    def run(self) -> None:
        rng = random.Random(self.base)
        connection = pymysql.connect(**self.server.connection_settings(), database=self.database, autocommit=False)
        next_id = self.base
        try:
            while not self.stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO items VALUES (%s, %s, 0, 'new'), (%s, %s, 0, NULL)",
                                   (next_id, self.side, next_id + 1, self.side))
                    mine = rng.randint(self.base, next_id + 1)
                    cursor.execute("UPDATE items SET n = n + 1, note = 'updated' WHERE id = %s", (mine,))
                    if rng.random() < 0.3:
                        cursor.execute("DELETE FROM items WHERE id = %s", (rng.randint(self.base, next_id + 1),))
                connection.commit()
                next_id += 2
                self.committed += 1
                self.stop.wait(0.003)
        finally:
            connection.close()


def binlog_end(server: MariaDBServer) -> tuple:
    return server.query_one("SHOW MASTER STATUS")[:2]


def test_load_on_both_sides_converges_survives_kill_9_and_does_not_echo(workspace: Workspace, mariadb_pair,
                                                                        shared_database) -> None:
    a, b = mariadb_pair
    database = shared_database(a, b)
    create_items(a, database, seed_rows=2000)
    start_pair(workspace, a, b, database)

    loads = [SideLoad(a, database, "a", 1_000_000), SideLoad(b, database, "b", 2_000_000)]
    for load in loads:
        load.start()
    try:
        kill_in_turn(workspace, FORWARD, REVERSE)
    finally:
        for load in loads:
            load.stop.set()
            load.join()
    assert all(load.committed > 500 for load in loads), [load.committed for load in loads]
    wait_for(lambda: equal(a, b, database=database), timeout=120, what="both sides equal after the load")
    assert {side for _, side, _, _ in rows(a, database)} == {"a", "b"}

    # quiet: nothing flows any more in either direction, not even bookkeeping
    time.sleep(2)  # let the last checkpoints land
    before = (binlog_end(a), binlog_end(b), changelog_last_seq(workspace, FORWARD), changelog_last_seq(workspace, REVERSE))
    time.sleep(10)
    after = (binlog_end(a), binlog_end(b), changelog_last_seq(workspace, FORWARD), changelog_last_seq(workspace, REVERSE))
    assert after == before, "an idle pair must not echo changes or checkpoints back and forth"
    for address in (FORWARD, REVERSE):
        status = workspace.status(address)
        assert status["state"] == "running" and status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}


def write_conflicts(a: MariaDBServer, b: MariaDBServer, database: str) -> None:
    """While both directions are paused, so that neither side has seen the other's writes: the
    same new key on both sides, a row deleted on A that B updates, a row both sides update,
    and a new row on each side alone."""
    for statement_a, statement_b in (
            ("INSERT INTO {}.items VALUES (10, 'a', 1, 'from a')", "INSERT INTO {}.items VALUES (10, 'b', 2, 'from b')"),
            ("DELETE FROM {}.items WHERE id = 2", "UPDATE {}.items SET note = 'from b' WHERE id = 2"),
            ("UPDATE {}.items SET note = 'from a' WHERE id = 3", "UPDATE {}.items SET note = 'from b' WHERE id = 3"),
            ("INSERT INTO {}.items VALUES (20, 'a', 0, 'a only')", "INSERT INTO {}.items VALUES (30, 'b', 0, 'b only')")):
        a.execute(statement_a.format(f"`{database}`"))
        b.execute(statement_b.format(f"`{database}`"))


def notes(server: MariaDBServer, database: str) -> dict[int, str]:
    return {row_id: note for row_id, note in server.query(f"SELECT id, note FROM `{database}`.items WHERE id IN (2, 3, 10)")}


@pytest.mark.parametrize("policy", ["ignore", "overwrite", "fail"])
def test_conflicts_resolve_as_each_policy_promises_and_are_counted(workspace: Workspace, mariadb_pair,
                                                                   shared_database, policy: str) -> None:
    a, b = mariadb_pair
    database = shared_database(a, b)
    create_items(a, database, seed_rows=3)
    start_pair(workspace, a, b, database, policy=policy)
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, policy=policy, status="paused"))
    workspace.run("apply", "--auto-approve")
    write_conflicts(a, b, database)

    # B's changes reach A first: the reverse finds rows missing or already there (it cannot know
    # of A's writes yet). Then A's changes reach B, and the forward finds each of them concurrent
    # with the write B made to the same row.
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, policy=policy, status="{forward: paused}"))
    workspace.run("apply", "--auto-approve")
    if policy == "fail":
        failed = wait_for(lambda: (s := workspace.status(REVERSE))["state"] == "failed" and s, timeout=60,
                          what="the reverse to stop on the conflict")
        assert "conflict: insert into" in failed["last_error"] and "id=10" in failed["last_error"]
    else:
        wait_for(lambda: a.query_one(f"SELECT id FROM `{database}`.items WHERE id = 30"), what="B's changes on A")
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, policy=policy))
    workspace.run("apply", "--auto-approve", check=policy != "fail")
    if policy == "fail":
        failed = wait_for(lambda: (s := workspace.status(FORWARD))["state"] == "failed" and s, timeout=60,
                          what="the forward to stop on the conflict")
        assert "conflict: insert of" in failed["last_error"] and "id=10" in failed["last_error"]
        assert "conflict_policy is fail" in failed["last_error"]
        assert notes(b, database) == {2: "from b", 3: "from b", 10: "from b"}, "nothing of the batch is applied"
        return
    wait_for(lambda: b.query_one(f"SELECT id FROM `{database}`.items WHERE id = 20"), what="A's changes on B")

    wait_for(lambda: workspace.status(FORWARD)["conflicts"] == {"insert": 1, "update": 1, "delete": 1},
             what="the forward's conflicts counted in status")
    assert workspace.status(REVERSE)["conflicts"] == {"insert": 1, "update": 1, "delete": 0}
    if policy == "ignore":  # each destination keeps its row: row 3 ends the same on both sides
        assert notes(a, database) == {3: "from b", 10: "from a"}
        assert notes(b, database) == {2: "from b", 3: "from b", 10: "from b"}
    else:  # overwrite: the incoming change wins on each side, so the sides swap
        assert notes(a, database) == {2: "from b", 3: "from b", 10: "from b"}
        assert notes(b, database) == {3: "from a", 10: "from a"}
    assert "conflict: update on" in workspace.run("logs", REVERSE, "--lines", "200").stdout
    forward_log = workspace.run("logs", FORWARD, "--lines", "200").stdout
    assert "conflict: update of" in forward_log and "(id=3) was also written on the destination" in forward_log


def test_one_direction_paused_catches_up_on_resume(workspace: Workspace, mariadb_pair, shared_database) -> None:
    a, b = mariadb_pair
    database = shared_database(a, b)
    create_items(a, database, seed_rows=10)
    start_pair(workspace, a, b, database)
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, status="{reverse: paused}"))
    workspace.run("apply", "--auto-approve")
    assert workspace.status(REVERSE)["pid"] is None and workspace.status(FORWARD)["state"] == "running"

    a.execute(f"INSERT INTO `{database}`.items VALUES (100, 'a', 0, 'while paused')")
    b.execute(f"INSERT INTO `{database}`.items VALUES (200, 'b', 0, 'while paused')")
    wait_for(lambda: b.query_one(f"SELECT id FROM `{database}`.items WHERE id = 100"), what="forward still flowing")
    time.sleep(1)
    assert a.query_one(f"SELECT id FROM `{database}`.items WHERE id = 200") is None

    workspace.write("main.dts.yaml", pair_declaration(a, b, database))
    workspace.run("apply", "--auto-approve")
    wait_for(lambda: equal(a, b, database=database), timeout=60, what="B's write after the resume")


def test_a_side_that_lost_the_reverse_checkpoint_stops_the_reverse_instead_of_skipping_writes(
        workspace: Workspace, mariadb_pair, shared_database) -> None:
    a, b = mariadb_pair
    database = shared_database(a, b)
    create_items(a, database, seed_rows=10)
    start_pair(workspace, a, b, database)
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, status="{reverse: paused}"))
    workspace.run("apply", "--auto-approve")
    b.execute(f"INSERT INTO `{database}`.items VALUES (200, 'b', 0, 'on B while A is restored')")
    a.execute("DELETE FROM dtsctl_meta.checkpoints WHERE task_id = %s", task_id(workspace, REVERSE))  # A restored

    workspace.write("main.dts.yaml", pair_declaration(a, b, database))
    workspace.run("apply", "--auto-approve", check=False)
    failed = wait_for(lambda: (s := workspace.status(REVERSE))["state"] == "failed" and s, timeout=60,
                      what="the reverse to refuse to start over")
    assert "no longer holds this task's checkpoint" in failed["last_error"]
    assert a.query_one(f"SELECT id FROM `{database}`.items WHERE id = 200") is None
    assert b.query_one(f"SELECT id FROM `{database}`.items WHERE id = 200"), "nothing is deleted on B"


def test_pair_plus_cascade_reaches_the_third_server_whichever_side_is_written(
        workspace: Workspace, mariadb_pair, mariadb_factory, shared_database) -> None:
    a, b = mariadb_pair
    c = mariadb_factory()
    database = shared_database(a, b, c)
    create_items(a, database, seed_rows=100)
    create_items(c, database, seed_rows=0)
    start_pair(workspace, a, b, database)
    cascade = f"""tasks:
          b_to_c:
            type: synchronization
            source: b
            destination: c
            objects: [{{database: {database}, all: true}}]"""
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, more_endpoints=f"c: {endpoint(c)}", tasks=cascade))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.b_to_c", "--timeout", "120")
    for n in range(20):
        side = "a" if n % 2 else "b"
        (a if n % 2 else b).execute(f"INSERT INTO `{database}`.items VALUES (%s, %s, 0, 'cascade')", 1000 + n, side)
    a.execute(f"UPDATE `{database}`.items SET n = 7 WHERE id <= 50")
    b.execute(f"DELETE FROM `{database}`.items WHERE id > 90 AND id <= 100")
    wait_for(lambda: equal(a, b, c, database=database), timeout=60, what="A, B and C equal")
    assert len(rows(c, database)) == 110
