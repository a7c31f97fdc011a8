"""MariaDB migration and synchronization through the dtsctl CLI, against private servers.

Covers issue 3's end-to-end list: all three phases under a concurrent write
load with kill -9 during full and incremental and a source restart; every
column type; DDL during incremental; pause/resume; an in-place objects change;
MariaDB -> SQLite; precheck failures each with its message.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import random
import signal
import sqlite3
import threading
import time

import pymysql
import pytest

from tests.e2e.cli import Workspace, wait_for
from tests.servers.mariadb import MariaDBServer

pytestmark = pytest.mark.e2e


def endpoint(server: MariaDBServer, user: str = "root", password: str = "") -> str:
    return f"{{engine: mysql, host: 127.0.0.1, port: {server.port}, user: {user}, password: '{password}'}}"


def declaration(src: MariaDBServer, dst: MariaDBServer, objects: str, *, task_type: str = "synchronization",
                status: str = "running", extra: str = "") -> str:
    return f"""
        endpoints:
          src: {endpoint(src)}
          dst: {endpoint(dst)}
        tasks:
          copy:
            type: {task_type}
            source: src
            destination: dst
            objects: {objects}
            status: {status}
            retry: {{connection_minutes: 2, other_minutes: 2}}
        {extra}
        """


def table_rows(server: MariaDBServer, database: str, table: str) -> list[tuple]:
    return list(server.query(f"SELECT * FROM `{database}`.`{table}` ORDER BY 1"))


def same(src: MariaDBServer, src_db: str, dst: MariaDBServer, dst_db: str, tables: list[str]) -> bool:
    try:
        return all(table_rows(src, src_db, t) == table_rows(dst, dst_db, t) for t in tables)
    except pymysql.err.ProgrammingError:  # the table is not on the destination yet
        return False


class WriteLoad(threading.Thread):
    """Multi-statement transactions (insert, update, delete) on the source until stopped.

    Survives a source restart by reconnecting, as an application would.
    """

    def __init__(self, server: MariaDBServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database = server, database
        self.stop = threading.Event()
        self.committed = 0

    def run(self) -> None:
        rng = random.Random(3)
        connection = None
        while not self.stop.is_set():
            try:
                if connection is None:
                    connection = pymysql.connect(**self.server.connection_settings(), database=self.database,
                                                 autocommit=False)
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO orders (customer_id, amount, note, created) VALUES "
                                   "(%s, %s, 'load 🚀', NOW(6)), (%s, %s, NULL, NOW(6))",
                                   (rng.randint(1, 100), decimal.Decimal("12.34"), rng.randint(1, 100), 1))
                    cursor.execute("UPDATE orders SET amount = amount + 1 WHERE id = %s", (rng.randint(1, 3000),))
                    cursor.execute("DELETE FROM orders WHERE id = %s", (rng.randint(1, 3000),))
                    cursor.execute("UPDATE customers SET name = CONCAT(name, '+') WHERE id = %s", (rng.randint(1, 100),))
                connection.commit()
                self.committed += 1
            except pymysql.err.MySQLError:
                connection = None  # the source restarted: reconnect and go on
                self.stop.wait(0.2)
            self.stop.wait(0.002)


def seed_shop(server: MariaDBServer, database: str, orders: int) -> None:
    server.execute(f"CREATE TABLE `{database}`.customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL) "
                   "DEFAULT CHARSET=utf8mb4")
    server.execute(f"CREATE TABLE `{database}`.orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                   "customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(100), "
                   "created DATETIME(6) NOT NULL, KEY by_customer (customer_id)) DEFAULT CHARSET=utf8mb4")
    server.execute(f"INSERT INTO `{database}`.customers SELECT seq, CONCAT('customer ', seq) FROM `{database}`.seq_1_to_100")
    server.execute(f"INSERT INTO `{database}`.orders (customer_id, amount, note, created) "
                   f"SELECT seq % 100 + 1, seq / 7, CONCAT('order ', seq), NOW(6) FROM `{database}`.seq_1_to_{orders}")


def test_migration_under_load_survives_kill_9_and_a_source_restart(workspace: Workspace, mariadb_pair,
                                                                    fresh_database) -> None:
    src, dst = mariadb_pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    seed_shop(src, src_db, orders=200_000)
    workspace.write("main.dts.yaml", declaration(
        src, dst, f"[{{database: {src_db}, all: true, rename: {dst_db}}}]", task_type="migration"))
    load = WriteLoad(src, src_db)
    load.start()
    try:
        workspace.run("apply", "--auto-approve")
        # Rows copied, the copy still running or (200,000 rows take about a second) already over:
        # waiting for phase `full` as well missed a copy that ended between two status writes.
        wait_for(lambda: workspace.status("task.copy")["rows_copied"] > 0, timeout=60, what="the full copy")
        os.kill(workspace.agent_pid("task.copy"), signal.SIGKILL)  # kill -9, during full as a rule
        workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "180")
        time.sleep(2)
        # the copy may have ended before the first kill: then the restarted agent may still be in backoff
        wait_for(lambda: workspace.agent_pid("task.copy"), timeout=30, what="the agent after the first kill")
        os.kill(workspace.agent_pid("task.copy"), signal.SIGKILL)  # kill -9 during incremental
        wait_for(lambda: workspace.agent_pid("task.copy"), timeout=30, what="the supervisor's restart")
        src.restart()  # the agent must reconnect and continue
        committed = load.committed
        wait_for(lambda: load.committed > committed + 50, timeout=60, what="writes after the source restart")
    finally:
        load.stop.set()
        load.join()
    wait_for(lambda: same(src, src_db, dst, dst_db, ["customers", "orders"]), timeout=120,
             what="the destination to equal the source row by row")
    assert workspace.status("task.copy")["state"] == "running"
    assert workspace.run("verify", "task.copy").returncode == 0


def test_kill_9_during_the_streamed_full_copy_under_load_loses_nothing(workspace: Workspace, mariadb_pair,
                                                                       fresh_database) -> None:
    """The chunk reader runs ahead of the writer (here held back by the throttle): a kill -9
    while chunks are read but not yet written, twice, resumes after the last committed chunk."""
    src, dst = mariadb_pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    seed_shop(src, src_db, orders=200_000)
    workspace.write("main.dts.yaml", declaration(src, dst, f"[{{database: {src_db}, all: true, rename: {dst_db}}}]",
                                                 extra="    throttle: {rps: 8000}"))
    load = WriteLoad(src, src_db)
    load.start()
    try:
        workspace.run("apply", "--auto-approve")
        copied = 0
        for _ in range(2):
            running = wait_for(lambda: (s := workspace.status("task.copy"))["phase"] == "full"
                               and s["pid"] and (s["rows_copied"] or 0) > copied + 20_000 and s,
                               timeout=120, what="the full copy to go on")
            os.kill(running["pid"], signal.SIGKILL)
            copied = running["rows_copied"]
            wait_for(lambda: workspace.agent_pid("task.copy") not in (None, running["pid"]), timeout=30,
                     what="the supervisor's restart")
        workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "300")
    finally:
        load.stop.set()
        load.join()
    wait_for(lambda: same(src, src_db, dst, dst_db, ["customers", "orders"]), timeout=120,
             what="the destination to equal the source row by row")
    assert workspace.run("verify", "task.copy").returncode == 0


TYPES_DDL = """
    CREATE TABLE `{db}`.every_type (
      id INT PRIMARY KEY,
      ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
      i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
      dec1 DECIMAL(65,30), dec2 DECIMAL(10,0) UNSIGNED, f FLOAT, d DOUBLE,
      dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
      c CHAR(10), vc VARCHAR(255), tx TEXT, lt LONGTEXT,
      bn BINARY(4), vb VARBINARY(64), bl BLOB,
      en ENUM('small', 'medium', 'large'), st SET('a', 'b', 'c'), js JSON, bt BIT(12)
    ) DEFAULT CHARSET=utf8mb4
"""

TYPE_ROWS = [
    (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808,
     18446744073709551615, decimal.Decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
     decimal.Decimal("9999999999"), 1.5, 2.718281828459045, datetime.date(1000, 1, 1),
     datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), datetime.datetime(2038, 1, 19, 3, 14, 7, 123456),
     datetime.timedelta(hours=-838, minutes=-59, seconds=-59), 2155, "pad", "emoji 😀 ✓", "text\n\t'\"\\",
     "x" * 70000, b"\x00\xff\x10\x80", b"\x00\x01bytes\xfe", bytes(range(256)), "large", "a,c",
     '{"k": [1, 2.5, "v", null, {"n": true}]}', 0b101010101010),
    (2,) + (None,) * 30,
    (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, decimal.Decimal("-0.000000000000000000000000000001"), decimal.Decimal("0"),
     -0.0, -1e308, datetime.date(2024, 2, 29), datetime.datetime(1970, 1, 1, 0, 0, 1),
     datetime.datetime(1970, 1, 1, 0, 0, 1), datetime.timedelta(microseconds=1), 1901, "", "", "", "",
     b"\x00\x00\x00\x00", b"", b"", "small", "", "[]", 0),
]


def insert_type_rows(server: MariaDBServer, database: str, rows: list[tuple], id_offset: int) -> None:
    placeholders = ", ".join(["%s"] * len(rows[0]))
    for row in rows:
        server.execute(f"INSERT INTO `{database}`.every_type VALUES ({placeholders})", row[0] + id_offset, *row[1:])


def test_every_type_round_trips_in_full_copy_and_incremental(workspace: Workspace, mariadb_pair,
                                                             fresh_database) -> None:
    src, dst = mariadb_pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    src.execute(TYPES_DDL.format(db=src_db))
    insert_type_rows(src, src_db, TYPE_ROWS, id_offset=0)
    workspace.write("main.dts.yaml", declaration(src, dst, f"[{{database: {src_db}, tables: [every_type], "
                                                           f"rename: {dst_db}}}]"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "120")
    insert_type_rows(src, src_db, TYPE_ROWS, id_offset=100)  # the same values through the binlog
    src.execute(f"UPDATE `{src_db}`.every_type SET vc = 'updated ✓', bl = x'00ff' WHERE id = 101")
    wait_for(lambda: same(src, src_db, dst, dst_db, ["every_type"]), timeout=60, what="every type to round-trip")
    assert len(table_rows(dst, dst_db, "every_type")) == 6


def test_ddl_pause_resume_and_objects_change_in_place(workspace: Workspace, mariadb_pair, fresh_database) -> None:
    src, dst = mariadb_pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    seed_shop(src, src_db, orders=3000)
    objects = "[{{database: {src}, tables: {tables}, rename: {dst}}}]"
    workspace.write("main.dts.yaml", declaration(src, dst, objects.format(src=src_db, dst=dst_db, tables="[orders]")))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "120")
    copied = workspace.status("task.copy")["rows_copied"]
    assert copied == 3000

    # DDL during incremental: the column appears on the destination and carries values
    src.execute(f"ALTER TABLE `{src_db}`.orders ADD COLUMN channel VARCHAR(20) NOT NULL DEFAULT 'web'")
    src.execute(f"INSERT INTO `{src_db}`.orders (customer_id, amount, created, channel) VALUES (1, 1, NOW(6), 'app')")
    wait_for(lambda: same(src, src_db, dst, dst_db, ["orders"]), timeout=60, what="the ALTER and the new row")

    # pause in place: agent gone, writes made meanwhile arrive after resume, nothing re-copied
    workspace.write("main.dts.yaml", declaration(src, dst, objects.format(src=src_db, dst=dst_db, tables="[orders]"),
                                                 status="paused"))
    workspace.run("apply", "--auto-approve")
    assert workspace.status("task.copy")["pid"] is None
    src.execute(f"DELETE FROM `{src_db}`.orders WHERE id <= 10")
    time.sleep(0.5)
    assert len(table_rows(dst, dst_db, "orders")) == 3001
    workspace.write("main.dts.yaml", declaration(src, dst, objects.format(src=src_db, dst=dst_db, tables="[orders]")))
    workspace.run("apply", "--auto-approve")
    wait_for(lambda: same(src, src_db, dst, dst_db, ["orders"]), timeout=60, what="writes made during the pause")

    # add a table in place: only it is copied
    workspace.write("main.dts.yaml", declaration(
        src, dst, objects.format(src=src_db, dst=dst_db, tables="[orders, customers]")))
    plan = json.loads(workspace.run("plan", "--json").stdout)
    assert plan["resource_changes"][0]["change"]["actions"] == ["update"]
    workspace.run("apply", "--auto-approve")
    wait_for(lambda: same(src, src_db, dst, dst_db, ["orders", "customers"]), timeout=60, what="the added table")
    wait_for(lambda: workspace.status("task.copy")["rows_copied"] == copied + 100, what="only customers copied")

    kept = table_rows(dst, dst_db, "orders")
    workspace.run("destroy", "--auto-approve")
    assert table_rows(dst, dst_db, "orders") == kept, "destroy leaves the destination's data as it was"


def test_mariadb_to_sqlite(workspace: Workspace, mariadb_source, fresh_database) -> None:
    src_db = fresh_database(mariadb_source)
    seed_shop(mariadb_source, src_db, orders=500)
    workspace.write("main.dts.yaml", f"""
        endpoints:
          src: {endpoint(mariadb_source)}
          lake: {{engine: sqlite, path: ./lake.db}}
        tasks:
          copy:
            type: synchronization
            source: src
            destination: lake
            objects: [{{database: {src_db}, tables: [orders, customers], rename: main}}]
        """)
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "120")
    mariadb_source.execute(f"UPDATE `{src_db}`.orders SET amount = 99.99, note = 'änderung' WHERE id = 7")
    mariadb_source.execute(f"DELETE FROM `{src_db}`.orders WHERE id = 8")

    def lake_orders() -> list[tuple]:
        with sqlite3.connect(workspace.root / "lake.db") as lake:
            return lake.execute("SELECT id, customer_id, amount, note FROM orders ORDER BY id").fetchall()

    expected = [(int(i), int(c), float(a), n) for i, c, a, n in
                mariadb_source.query(f"SELECT id, customer_id, amount, note FROM `{src_db}`.orders ORDER BY id")]
    wait_for(lambda: [(i, c, float(a), n) for i, c, a, n in lake_orders()] == expected, timeout=60,
             what="the SQLite copy to match")


@pytest.fixture
def no_binlog_server(mariadb_factory) -> MariaDBServer:
    server = mariadb_factory(log_bin=False)
    server.create_database("shop")
    server.execute("CREATE TABLE shop.orders (id INT PRIMARY KEY)")
    return server


def test_precheck_failures_each_say_what_to_change(workspace: Workspace, mariadb_pair, no_binlog_server,
                                                   fresh_database) -> None:
    src, dst = mariadb_pair
    src_db = fresh_database(src)
    src.execute(f"CREATE TABLE `{src_db}`.keyless (a INT, b INT)")
    src.create_user("dts_check", "right-password", "REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.*")
    cases = {
        "binlog off": (endpoint(no_binlog_server), "[{database: shop, tables: [orders]}]", "log_bin"),
        "missing primary key": (endpoint(src), f"[{{database: {src_db}, tables: [keyless]}}]", "keyless"),
        "wrong password": (endpoint(src, "dts_check", "wrong-password"), f"[{{database: {src_db}, all: true}}]",
                           "dts_check"),
    }
    for name, (source, objects, mentioned) in cases.items():
        workspace.write("main.dts.yaml", f"""
            endpoints:
              src: {source}
              dst: {endpoint(dst)}
            tasks:
              copy: {{type: migration, source: src, destination: dst, objects: {objects}}}
            """)
        check = workspace.run("precheck", check=False)
        assert check.returncode == 1, name
        assert "FAIL" in check.stdout and mentioned in check.stdout, (name, check.stdout)
        applied = workspace.run("apply", "--auto-approve", check=False)
        assert applied.returncode == 1, name
        errors = [line for line in applied.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and mentioned in errors[0], (name, applied.stderr)
        assert "right-password" not in check.stdout + applied.stdout + applied.stderr
        assert workspace.run("state", "list").stdout == "", f"{name}: nothing may be recorded"


def test_destination_down_for_30_seconds_is_ridden_out(workspace: Workspace, mariadb_pair, fresh_database) -> None:
    src, dst = mariadb_pair
    src_db, dst_db = fresh_database(src), fresh_database(dst)
    seed_shop(src, src_db, orders=1000)
    workspace.write("main.dts.yaml", declaration(src, dst, f"[{{database: {src_db}, all: true, rename: {dst_db}}}]"))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "120")
    agent = workspace.agent_pid("task.copy")
    dst.stop()
    outage_ends = time.monotonic() + 30
    row = 0
    while time.monotonic() < outage_ends:  # the application keeps writing to the source meanwhile
        row += 1
        src.execute(f"INSERT INTO `{src_db}`.orders (customer_id, amount, created) VALUES (%s, 1, NOW(6))", row)
        time.sleep(0.1)
    status = workspace.status("task.copy")
    assert status["state"] == "running" and status["last_error"], "the outage shows in status"
    dst.start()
    wait_for(lambda: same(src, src_db, dst, dst_db, ["customers", "orders"]), timeout=90,
             what="the destination to catch up after its outage")
    assert workspace.agent_pid("task.copy") == agent, "the agent rode the outage out by itself"
    assert workspace.status("task.copy")["last_error"] is None


def test_a_binlog_event_larger_than_max_allowed_packet_stops_the_task_saying_so(
        workspace: Workspace, mariadb_factory, mariadb_destination, fresh_database) -> None:
    """BINLOG_GTID_POS cannot read past an event larger than the session's max_allowed_packet and
    gives NULL; taken as an empty GTID state, the stream would start at the first binlog and
    replay every old change, DROP TABLE statements included. The task stops and says what to do."""
    src = mariadb_factory(extra_args=["--max-allowed-packet=64M"])
    src.create_database("shop")
    src.execute("CREATE TABLE shop.files (id INT PRIMARY KEY, body LONGBLOB)")
    src.execute("INSERT INTO shop.files VALUES (1, %s)", b"x" * (17 * 2 ** 20))
    src.execute("SET GLOBAL max_allowed_packet = %s", 16 * 2 ** 20)  # the agent's sessions: 16 MiB
    dst_db = fresh_database(mariadb_destination)
    workspace.write("main.dts.yaml", declaration(src, mariadb_destination,
                                                 f"[{{database: shop, tables: [files], rename: {dst_db}}}]"))
    workspace.run("apply", "--auto-approve")
    status = wait_for(lambda: (s := workspace.status("task.copy"))["state"] == "failed" and s, timeout=60,
                      what="the task to stop")
    assert "max_allowed_packet" in status["last_error"] and "BINLOG_GTID_POS" in status["last_error"], status
    assert not mariadb_destination.query(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'files'", dst_db)
