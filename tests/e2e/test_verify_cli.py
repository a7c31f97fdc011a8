"""`dtsctl verify` through the CLI against real servers (issue 16): no false positive under a
2,000 rows/s write load, and rows/keys corrupted on the destination (missing, extra, different)
found with example keys, repaired with --repair through the task's applier, then equal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pymysql
import pytest

from tests.e2e.cli import Workspace, execute, rows, wait_for
from tests.e2e.test_mysql_cli import declaration
from tests.e2e.test_redis_cli import declaration as redis_declaration
from tests.integration.redis.conftest import wait_equal
from tests.servers.mariadb import MariaDBServer
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.e2e

EXIT_DIFFERENT = 4


def mysql_declaration(src: MariaDBServer, dst: MariaDBServer, src_db: str, dst_db: str) -> str:
    return declaration(src, dst, f"[{{database: {src_db}, all: true, rename: {dst_db}}}]")


def sqlite_declaration(extra: str = "") -> str:
    return f"""
        endpoints:
          shop: {{engine: sqlite, path: ./shop.db}}
          replica: {{engine: sqlite, path: ./replica.db}}
        tasks:
          copy:
            type: synchronization
            source: shop
            destination: replica
            objects: [{{database: main, all: true}}]
            {extra}
        """


class RowLoad(threading.Thread):
    """About `rate` rows a second on the source: batches of inserts and updates of existing rows."""

    def __init__(self, server: MariaDBServer, database: str, rate: int) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.rate = server, database, rate
        self.stop = threading.Event()
        self.rows = 0

    def run(self) -> None:
        connection = pymysql.connect(**self.server.connection_settings(), database=self.database, autocommit=True)
        batch = max(self.rate // 50, 1)  # 50 commits a second
        started = time.monotonic()
        while not self.stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO items (label) VALUES " + ", ".join(["('load')"] * (batch // 2)))
                cursor.execute("UPDATE items SET label = CONCAT('u', id) WHERE id %% 97 = %s LIMIT %s",
                               (self.rows % 97, batch - batch // 2))
            self.rows += batch
            ahead = self.rows / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self.stop.wait(ahead)
        connection.close()


def seed_items(server: MariaDBServer, database: str, count: int) -> None:
    server.execute(f"CREATE TABLE `{database}`.items (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(50) NOT NULL)")
    server.execute(f"INSERT INTO `{database}`.items (label) SELECT CONCAT('item ', seq) FROM `{database}`.seq_1_to_{count}")


def streaming(workspace: Workspace, pair: tuple[MariaDBServer, MariaDBServer], fresh_database: Callable[..., str],
              rows: int, declare: Callable[[MariaDBServer, MariaDBServer, str, str], str] = mysql_declaration,
              address: str = "task.copy") -> tuple[MariaDBServer, MariaDBServer, str, str]:
    """A task over a seeded `items` table, applied and streaming: (source, destination, their databases)."""
    src, dst = pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    seed_items(src, src_db, rows)
    workspace.write("main.dts.yaml", declare(src, dst, src_db, dst_db))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", address, "--phase", "incremental", "--timeout", "120")
    return src, dst, src_db, dst_db


def verify(workspace: Workspace, *args: str) -> tuple[int, dict]:
    result = workspace.run("verify", "task.copy", "--json", *args, check=False, timeout=300)
    assert result.returncode in (0, EXIT_DIFFERENT), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_verify_under_a_2000_rows_per_second_load_reports_no_difference(workspace: Workspace, mariadb_pair,
                                                                         fresh_database) -> None:
    src, dst, src_db, dst_db = streaming(workspace, mariadb_pair, fresh_database, 30_000)
    load = RowLoad(src, src_db, 2000)
    load.start()
    try:
        time.sleep(1)
        before = load.rows
        code, report = verify(workspace)
        written_meanwhile = load.rows - before
    finally:
        load.stop.set()
        load.join()
    assert written_meanwhile > 1000, "the load did not run during verify"
    [table] = report["tables"]
    assert (code, report["equal"], table["different"]["count"], table["missing"]["count"]) == (0, True, 0, 0), table


def test_mysql_differences_are_found_with_examples_and_repaired_through_the_applier(
        workspace: Workspace, mariadb_pair, fresh_database) -> None:
    src, dst, src_db, dst_db = streaming(workspace, mariadb_pair, fresh_database, 5000)
    assert verify(workspace)[0] == 0
    dst.execute(f"DELETE FROM `{dst_db}`.items WHERE id IN (10, 4000)")
    dst.execute(f"INSERT INTO `{dst_db}`.items VALUES (90001, 'stray')")
    dst.execute(f"UPDATE `{dst_db}`.items SET label = 'wrong' WHERE id = 77")
    source_before = src.query(f"SELECT * FROM `{src_db}`.items ORDER BY id")

    code, report = verify(workspace)
    [table] = report["tables"]
    assert code == EXIT_DIFFERENT and not report["equal"]
    assert table["missing"] == {"count": 2, "examples": [{"id": 10}, {"id": 4000}]}
    assert table["extra"] == {"count": 1, "examples": [{"id": 90001}]}
    assert table["different"] == {"count": 1, "examples": [{"id": 77}]}
    assert dst.query(f"SELECT count(*) FROM `{dst_db}`.items") == [(4999,)], "verify without --repair wrote"

    code, report = verify(workspace, "--repair")
    [table] = report["tables"]
    assert (code, table["repaired"], table["equal"]) == (0, {"written": 3, "deleted": 1}, True)
    assert verify(workspace)[0] == 0
    assert dst.query(f"SELECT * FROM `{dst_db}`.items ORDER BY id") == source_before
    assert src.query(f"SELECT * FROM `{src_db}`.items ORDER BY id") == source_before
    # the stream goes on after the repair, under the task's conflict policy (fail)
    src.execute(f"INSERT INTO `{src_db}`.items VALUES (5001, 'after the repair')")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--max-lag", "1", "--timeout", "30")
    assert verify(workspace)[0] == 0
    assert workspace.status("task.copy")["state"] == "running"


def test_sqlite_differences_are_shown_per_table_and_repaired(workspace: Workspace) -> None:
    source, replica = workspace.root / "shop.db", workspace.root / "replica.db"
    execute(source, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
            *(f"INSERT INTO orders VALUES ({i}, 'order {i}')" for i in range(1, 201)),
            "INSERT INTO customers VALUES (1, 'ann')")
    workspace.write("main.dts.yaml", sqlite_declaration())
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
    execute(replica, "DELETE FROM orders WHERE id = 5", "INSERT INTO orders VALUES (999, 'stray')",
            "UPDATE orders SET note = 'wrong' WHERE id = 6")

    text = workspace.run("verify", "task.copy", "--tables", "main.orders", check=False)
    assert text.returncode == EXIT_DIFFERENT
    assert "DIFFERENT task.copy main.orders -> main.orders: 200 / 200 rows; 1 missing, 1 extra, 1 different" \
        in text.stdout
    assert '    missing: {"id": 5}' in text.stdout and "customers" not in text.stdout

    code, report = verify(workspace, "--repair")
    assert code == 0 and [t["repaired"] for t in report["tables"]] == [None, {"written": 2, "deleted": 1}]
    assert rows(replica, "orders") == rows(source, "orders")
    unknown = workspace.run("verify", "task.copy", "--tables", "main.nope", check=False)
    assert unknown.returncode == 1 and "--tables names main.nope, which the task does not select" in unknown.stderr


def test_redis_differences_are_found_and_repaired_by_the_source(workspace: Workspace, redis_source: RedisServer,
                                                                redis_destination: RedisServer, flush_redis) -> None:
    flush_redis(redis_source)
    flush_redis(redis_destination)
    source, destination = redis_source.client(), redis_destination.client()
    for index in range(300):
        source.set(f"k:{index}", f"v{index}")
    source.hset("h", mapping={"a": "1", "b": "2"})
    workspace.write("main.dts.yaml", redis_declaration(redis_source, redis_destination))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")
    wait_equal(source, destination)
    destination.delete("k:1")
    destination.set("stray", "x")
    destination.hset("h", "a", "changed")

    code, report = verify(workspace)
    [db] = report["tables"]
    assert code == EXIT_DIFFERENT
    assert (db["missing"]["examples"], db["extra"]["examples"], db["different"]["examples"]) == (["k:1"], ["stray"], ["h"])

    code, report = verify(workspace, "--repair")
    [db] = report["tables"]
    assert (code, db["repaired"], db["equal"]) == (0, {"written": 2, "deleted": 1}, True)
    assert destination.get("stray") is None and destination.hget("h", "a") == b"1" and destination.get("k:1") == b"v1"
    assert verify(workspace)[0] == 0


def test_declared_verification_runs_after_the_full_copy_and_on_its_schedule(workspace: Workspace) -> None:
    source, replica = workspace.root / "shop.db", workspace.root / "replica.db"
    execute(source, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
            *(f"INSERT INTO orders VALUES ({i}, 'order {i}')" for i in range(1, 101)))
    workspace.write("main.dts.yaml", sqlite_declaration('verify: {after_full: true, schedule: "* * * * * */2"}'))
    workspace.run("apply", "--auto-approve")
    first = wait_for(lambda: workspace.status("task.copy").get("verify"), timeout=60, what="the first verification")
    assert first["trigger"] == "after_full" and first["equal"] is True
    execute(replica, "UPDATE orders SET note = 'drift' WHERE id = 3")
    found = wait_for(lambda: (workspace.status("task.copy").get("verify") or {}).get("differences"), timeout=60,
                     what="a scheduled verification to find the drift")
    assert found == 1 and workspace.status("task.copy")["verify"]["trigger"] == "schedule"
    assert "last verify: 1 difference(s); see `dtsctl verify` (schedule, " in workspace.run("status", "task.copy").stdout
