"""A cutover declared in the task, planned and applied through the CLI (issue 16): MariaDB under a
1,000 rows/s application load with a freeze, a reverse task that carries writes on the new primary
back to the old one, and a teardown that leaves no dtsctl object on either server; a cutover whose
verification fails stops and unfreezes the source; a Redis cutover."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pymysql
import pytest
import redis as redis_py

from tests.e2e.cli import Workspace, wait_for
from tests.e2e.test_mysql_cli import endpoint as mysql_endpoint
from tests.e2e.test_redis_cli import endpoint as redis_endpoint
from tests.e2e.test_verify_cli import streaming
from tests.servers.mariadb import MariaDBServer
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.e2e

APP_USER, APP_PASSWORD = "app", "app-pw"


def declaration(old: str, new: str, objects: str, cutover: str = "", task_type: str = "migration") -> str:
    """A task `move` from endpoint `old` to `new` (endpoints as YAML flow mappings), with `cutover`."""
    return f"""
        endpoints:
          old: {old}
          new: {new}
        tasks:
          move:
            type: {task_type}
            source: old
            destination: new
            objects: {objects}
            retry: {{connection_minutes: 2, other_minutes: 2}}
            {cutover}
        """


def mysql_declaration(src: MariaDBServer, dst: MariaDBServer, src_db: str, dst_db: str, cutover: str = "") -> str:
    return declaration(mysql_endpoint(src), mysql_endpoint(dst), f"[{{database: {src_db}, all: true, rename: {dst_db}}}]",
                       cutover)


class AppLoad(threading.Thread):
    """The application: about 1,000 rows/s as an account without SUPER, so a freeze refuses its
    writes; refused writes are counted and retried, as an application in a switch-over would."""

    def __init__(self, server: MariaDBServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database = server, database
        self.stop = threading.Event()
        self.committed = 0
        self.refused = 0

    def run(self) -> None:
        connection = pymysql.connect(**self.server.connection_settings(APP_USER, APP_PASSWORD),
                                     database=self.database, autocommit=True)
        while not self.stop.is_set():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO items (label) VALUES " + ", ".join(["('app')"] * 10))
                self.committed += 10
            except pymysql.err.OperationalError:  # 1290: the server runs with read_only
                self.refused += 1
            self.stop.wait(0.01)
        connection.close()


def create_app_user(server: MariaDBServer) -> None:
    server.execute(f"CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'")
    server.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO '{APP_USER}'@'%'")


@pytest.fixture
def app_user(mariadb_source: MariaDBServer) -> Iterator[None]:
    create_app_user(mariadb_source)
    yield
    mariadb_source.execute("SET GLOBAL read_only = OFF")  # the servers are shared by the whole suite


def items(server: MariaDBServer, database: str) -> list[tuple]:
    return list(server.query(f"SELECT * FROM `{database}`.items ORDER BY id"))


def read_only(server: MariaDBServer) -> int:
    return server.query("SELECT @@GLOBAL.read_only")[0][0]


def dtsctl_objects(server: MariaDBServer) -> list[tuple]:
    """Every schema, table, trigger or routine on the server whose name mentions dtsctl."""
    return list(server.query(
        "SELECT 'schema', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%dtsctl%' "
        "UNION ALL SELECT 'table', CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES "
        "WHERE TABLE_NAME LIKE '%dtsctl%' OR TABLE_SCHEMA LIKE '%dtsctl%' "
        "UNION ALL SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE '%dtsctl%' "
        "UNION ALL SELECT 'routine', ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_NAME LIKE '%dtsctl%'"))


def test_mariadb_cutover_under_load_freezes_drains_and_keeps_the_old_source_in_sync(
        workspace: Workspace, mariadb_factory, fresh_database) -> None:
    pair = mariadb_factory(), mariadb_factory()  # of their own: the teardown check looks at every dtsctl object
    create_app_user(pair[0])
    src, dst, src_db, dst_db = streaming(workspace, pair, fresh_database, 5_000, mysql_declaration, "task.move")
    load = AppLoad(src, src_db)
    load.start()
    try:
        wait_for(lambda: load.committed > 500, timeout=30, what="the application load")
        workspace.write("main.dts.yaml", mysql_declaration(src, dst, src_db, dst_db,
                                                     "cutover: {freeze_source: true, reverse: true, max_lag: 5}"))
        planned = workspace.run("plan").stdout
        assert "~> task.move {" in planned and "8. create task.move_reverse: new -> old" in planned
        applied = workspace.run("apply", "--auto-approve", timeout=300).stdout
        refused_after_cutover = load.refused
        time.sleep(0.3)
        assert load.refused > refused_after_cutover, "the old source took the application's writes after the cutover"
    finally:
        load.stop.set()
        load.join()
    for step in ("precheck", "verify everything before the freeze (replication running)", "freeze writes on the source",
                 "wait until the applier has applied exactly up to it", "verify the rows changed since, in the freeze",
                 "mark the task completed", "create task.move_reverse from the switch position"):
        assert re.search(rf"task\.move: {re.escape(step)} \(\d+\.\d\ds\)", applied), (step, applied)
    downtime = float(re.search(r"write downtime \(freeze to completed\): (\d+\.\d+)s", applied).group(1))
    assert 0 < downtime < 30
    assert "the source stays frozen" in applied
    assert "Apply complete! Resources: 1 added, 1 changed, 0 destroyed." in applied
    assert load.refused > 0 and read_only(src) == 1
    assert items(dst, dst_db) == items(src, src_db), "a write committed before the freeze is missing"
    assert workspace.status("task.move")["state"] == "completed"
    assert workspace.status("task.move_reverse")["state"] == "running"
    assert "No changes." in workspace.run("plan").stdout

    # the application now writes to the new primary; the reverse task keeps the old one a live fallback
    dst.execute(f"INSERT INTO `{dst_db}`.items (label) VALUES ('written on the new primary')")
    dst.execute(f"UPDATE `{dst_db}`.items SET label = 'changed on the new primary' WHERE id = 7")
    wait_for(lambda: items(src, src_db) == items(dst, dst_db), timeout=60, what="the old source to follow")

    workspace.run("destroy", "--auto-approve")
    assert dtsctl_objects(src) == [] and dtsctl_objects(dst) == []
    assert items(src, src_db) == items(dst, dst_db) and len(items(src, src_db)) > 5_000  # the data stays


def test_a_row_corrupted_during_the_drain_stops_the_cutover_and_unfreezes_the_source(
        workspace: Workspace, mariadb_pair, fresh_database, app_user) -> None:
    src, dst, src_db, dst_db = streaming(workspace, mariadb_pair, fresh_database, 2000, mysql_declaration,
                                         "task.move")
    workspace.write("main.dts.yaml", mysql_declaration(src, dst, src_db, dst_db, "cutover: {reverse: true}"))
    load = AppLoad(src, src_db)
    load.start()
    in_flight = pymysql.connect(**src.connection_settings(APP_USER, APP_PASSWORD), database=src_db)
    try:
        wait_for(lambda: load.committed > 100, timeout=30, what="the application load")
        with in_flight.cursor() as cursor:  # an open write transaction: the drain waits for it
            cursor.execute("UPDATE items SET label = 'in flight' WHERE id = 5")
        cutover = subprocess.Popen([sys.executable, "-m", "dtsctl", "-C", str(workspace.root), "apply",
                                    "--auto-approve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: read_only(src) == 1, timeout=60, what="the freeze")
        load.stop.set()
        load.join()
        newest = src.query(f"SELECT max(id) FROM `{src_db}`.items")[0][0]  # written by the load after the first verify
        wait_for(lambda: dst.query(f"SELECT max(id) FROM `{dst_db}`.items")[0][0] == newest, timeout=20,
                 what="the applier to drain")
        dst.execute(f"UPDATE `{dst_db}`.items SET label = 'corrupted' WHERE id = %s", newest)
        in_flight.close()  # the application gives up its transaction: the drain ends
        out, err = cutover.communicate(timeout=120)
    finally:
        load.stop.set()
        load.join()
        if in_flight.open:
            in_flight.close()
    assert cutover.returncode == 1, out + err
    assert "verify found differences after the drain (" in out and "1 different" in out, out
    assert "the source was unfrozen (the cutover stopped; the task keeps running and nothing was lost)" in out
    assert read_only(src) == 0
    assert workspace.status("task.move")["state"] == "running"
    assert "task.move_reverse" not in workspace.run("state", "list").stdout
    src.execute(f"INSERT INTO `{src_db}`.items (label) VALUES ('after the failed cutover')")
    wait_for(lambda: dst.query(f"SELECT count(*) FROM `{dst_db}`.items") == src.query(
        f"SELECT count(*) FROM `{src_db}`.items"), timeout=30, what="the task to go on replicating")
    assert "~> task.move {" in workspace.run("plan").stdout


def test_redis_cutover_pauses_writes_and_completes(workspace: Workspace, redis_source: RedisServer,
                                                   redis_destination: RedisServer, flush_redis) -> None:
    flush_redis(redis_source)
    flush_redis(redis_destination)
    source, destination = redis_source.client(), redis_destination.client()
    for index in range(500):
        source.set(f"k:{index}", index)

    def redis_declaration(cutover: str = "") -> str:
        return declaration(redis_endpoint(redis_source), redis_endpoint(redis_destination), "[{database: 0}]",
                           cutover, task_type="synchronization")

    workspace.write("main.dts.yaml", redis_declaration())
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.move", "--phase", "incremental", "--timeout", "60")
    stop = threading.Event()
    writes = [0]

    def app() -> None:
        client = redis_source.client()
        while not stop.is_set():
            try:
                client.incr("counter")
                writes[0] += 1
            except redis_py.TimeoutError:  # paused by the freeze past the client's timeout: try again
                continue
            stop.wait(0.002)

    writer = threading.Thread(target=app, daemon=True)
    writer.start()
    try:
        wait_for(lambda: writes[0] > 200, timeout=30, what="the application's writes")
        workspace.write("main.dts.yaml", redis_declaration("cutover: {unfreeze_source: true, reverse: true, max_lag: 5}"))
        applied = workspace.run("apply", "--auto-approve", timeout=300).stdout
    finally:
        stop.set()
        writer.join()
    assert "task.move: freeze writes on the source (" in applied and "write downtime (freeze to completed)" in applied
    assert "the source was unfrozen (as declared (unfreeze_source))" in applied
    assert workspace.status("task.move")["state"] == "completed"
    assert 200 <= int(destination.get("counter")) <= int(source.get("counter"))
    assert workspace.status("task.move_reverse")["state"] == "running"
    destination.set("written on the new primary", "1")  # the reverse task keeps the old primary a fallback
    wait_for(lambda: source.get("written on the new primary") == b"1", timeout=30, what="the old primary to follow")
    source.set("after", "the cutover")  # the old source takes writes again, and the completed task copies none
    time.sleep(0.5)
    assert destination.get("after") is None
    workspace.run("destroy", "--auto-approve")
    assert [key for key in source.scan_iter("dtsctl:*")] == [] and [key for key in destination.scan_iter("dtsctl:*")] == []
