"""Cascades declared at once (issue 11, item 1): a task that reads another task's destination
is ordered after it, in `plan` and in `apply`, which starts it once the upstream task has
created its tables; a replication cycle of one-way tasks is refused by `validate`."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from tests.e2e.cli import Workspace, execute, rows, same_rows, wait_for
from tests.e2e.test_two_way_mysql import FORWARD, REVERSE, create_items, endpoint, equal, pair_declaration
from tests.e2e.test_two_way_mysql import rows as mysql_rows

pytestmark = pytest.mark.e2e


def sqlite_declaration(*tasks: tuple[str, str, str]) -> str:
    """Endpoints a, b, c (SQLite files) and one `all: true` task per (name, source, destination)."""
    lines = ["endpoints:", *(f"  {e}: {{engine: sqlite, path: ./{e}.db}}" for e in "abc"), "tasks:"]
    for name, source, destination in tasks:
        lines += [f"  {name}:", "    type: synchronization", f"    source: {source}",
                  f"    destination: {destination}", "    objects: [{database: main, all: true}]"]
    return "\n".join(lines) + "\n"


# The downstream task is declared first and sorts first: only its dependency puts it second.
SQLITE_CASCADE = sqlite_declaration(("replica_c", "b", "c"), ("staging_b", "a", "b"))


def _empty_sqlite(path: Path) -> None:
    execute(path, "PRAGMA user_version = 0")


def test_a_pair_with_a_cascade_declared_at_once_applies_in_one_run(
        workspace: Workspace, mariadb_pair, mariadb_factory, shared_database) -> None:
    a, b = mariadb_pair
    c = mariadb_factory()
    database = shared_database(a, b, c)
    create_items(a, database, seed_rows=100)  # b and c are empty
    cascade = f"""tasks:
          to_c:
            type: synchronization
            source: b
            destination: c
            objects: [{{database: {database}, all: true}}]"""
    workspace.write("main.dts.yaml", pair_declaration(a, b, database, more_endpoints=f"c: {endpoint(c)}", tasks=cascade))
    applied = workspace.run("apply", "--auto-approve")
    assert applied.stdout.index(f"{FORWARD}: create complete") < applied.stdout.index("task.to_c: Creating...")
    for address in (FORWARD, REVERSE, "task.to_c"):
        workspace.run("wait", address, "--timeout", "120")
    wait_for(lambda: equal(a, b, c, database=database), timeout=60, what="the copy to reach b and c")

    a.execute(f"INSERT INTO `{database}`.items VALUES (1001, 'a', 0, 'written on a')")
    b.execute(f"INSERT INTO `{database}`.items VALUES (1002, 'b', 0, 'written on b')")
    wait_for(lambda: equal(a, b, c, database=database), timeout=60, what="both writes on a, b and c")
    assert [row[0] for row in mysql_rows(c, database)][-2:] == [1001, 1002]

    a.execute(f"CREATE TABLE `{database}`.later (id INT PRIMARY KEY, note VARCHAR(20))")  # `all: true` follows it
    a.execute(f"INSERT INTO `{database}`.later VALUES (1, 'created later')")
    wait_for(lambda: _has(c, database, "later", (1, "created later")), timeout=60, what="a table created later on c")


def _has(server, database: str, table: str, row: tuple) -> bool:
    try:
        return row in mysql_rows(server, database, table)
    except pymysql.err.ProgrammingError:  # not created there yet
        return False


def test_a_plain_sqlite_cascade_declared_at_once_is_planned_and_applied_in_order(workspace: Workspace) -> None:
    a, b, c = (workspace.root / f"{name}.db" for name in "abc")
    execute(a, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
            *(f"INSERT INTO orders VALUES ({i}, 'seed {i}')" for i in range(1, 51)))
    _empty_sqlite(b)
    _empty_sqlite(c)
    workspace.write("main.dts.yaml", SQLITE_CASCADE)
    workspace.run("init")

    plan = workspace.run("plan").stdout
    assert "  # task.replica_c will be created\n  # after task.staging_b (reads its destination)\n  + task.replica_c {\n" in plan
    assert plan.index("# task.staging_b will be created") < plan.index("# task.replica_c will be created")

    precheck = workspace.run("precheck", "task.replica_c")  # b is empty: a warning, not "no table is selected"
    assert ("  warn objects: no table is selected yet; the tables task.staging_b creates on this task's source "
            "are replicated once they exist\n") in precheck.stdout

    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.replica_c", "--timeout", "60")
    wait_for(lambda: same_rows(a, c, "orders"), timeout=30, what="the copy on c")
    execute(a, "INSERT INTO orders VALUES (51, 'live')", "UPDATE orders SET note = 'changed' WHERE id = 1")
    wait_for(lambda: same_rows(a, c, "orders"), timeout=30, what="live changes on c")
    assert rows(c, "orders")[0] == (1, "changed")

    # `all: true` follows a table created later, rows written before capture reaches it included
    execute(a, "CREATE TABLE refunds (id INTEGER PRIMARY KEY, amount REAL)", "INSERT INTO refunds VALUES (1, 2.5)")
    execute(a, "INSERT INTO refunds VALUES (2, 7.25)")
    wait_for(lambda: same_rows(a, c, "refunds"), timeout=30, what="the table created later on c")
    execute(a, "UPDATE refunds SET amount = 3 WHERE id = 1", "DELETE FROM refunds WHERE id = 2")
    wait_for(lambda: same_rows(a, c, "refunds"), timeout=30, what="changes to the table created later on c")
    assert rows(c, "refunds") == [(1, 3.0)]


def test_a_cycle_of_one_way_tasks_is_refused_by_validate(workspace: Workspace) -> None:
    workspace.write("main.dts.yaml", sqlite_declaration(("a_to_b", "a", "b"), ("b_to_a", "b", "a")))
    result = workspace.run("validate", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "main.dts.yaml:6: tasks replicate in a cycle: task.a_to_b (a → b), then task.b_to_a (b → a), then task.a_to_b "
        "again; each reads what the one before it writes, so every change would come back to where it was made. "
        "For two endpoints that replicate both ways declare a `two-way` topology; otherwise remove one of these tasks")
    assert not (workspace.root / "state" / "dtsctl.state.json").exists()
