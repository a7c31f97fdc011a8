"""Subscription tasks on a MariaDB source (the private `mariadb_source` server), read through the SDK.

Records for every DML kind (a primary-key change too) and for DDL, begin/commit around a
multi-statement transaction, before/after images exact for every type of
tests/e2e/test_mysql_cli.py both as envelope JSON and as Python values (equal to what
pymysql reads from the source). The group/offset and failover scenarios of test_records.py
and test_failover.py are re-run here with `MysqlDriver` behind the `SourceDriver` seam.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pymysql
import pytest

from dtsctl.connectors.mysql.values import bit_columns, normalise_selected, to_param
from dtsctl.subscribe import Subscriber
from tests.e2e.test_mysql_cli import TYPE_ROWS, TYPES_DDL
from tests.integration.subscribe import test_failover, test_records
from tests.servers.mariadb import MariaDBServer


@dataclass
class MysqlDriver:
    """A `SourceDriver` for a database of a MariaDB server (every table of it selected)."""

    server: MariaDBServer
    database: str
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _opened: list[pymysql.Connection] = field(default_factory=list, repr=False)

    @property
    def object_name(self) -> str:
        return f"{self.database}.orders"

    @property
    def endpoint(self) -> dict[str, Any]:
        return {"engine": "mysql", "path": None, "host": "127.0.0.1", "port": self.server.port, "user": "root",
                "password": "", "database": None, "cluster": False}

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [{"database": self.database, "tables": None, "all": True, "rename": None, "table_rename": {},
                 "filter": {}, "dml": ["insert", "update", "delete"], "ddl": True, "key_prefixes": None,
                 "collections": None}]

    def connection(self) -> pymysql.Connection:
        """This thread's session: in UTC (as the connector's), in the driver's database, no autocommit."""
        conn = getattr(self._local, "conn", None)
        if conn is None:  # connecting costs ~30 ms, a reused session ~0.2 ms a commit
            conn = self._local.conn = pymysql.connect(
                **self.server.connection_settings(), database=self.database, charset="utf8mb4", autocommit=False,
                init_command="SET time_zone = '+00:00'")
            self._opened.append(conn)
        return conn

    def execute(self, *statements: str, params: tuple[Any, ...] = ()) -> None:
        """The statements as one transaction."""
        conn = self.connection()
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement, (params or None) if len(statements) == 1 else None)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def close(self) -> None:
        for conn in self._opened:
            conn.close()

    def select(self, table: str) -> dict[int, dict[str, Any]]:
        """id -> row as pymysql reads it, BIT columns as ints (the project's one form for BIT)."""
        conn = self.connection()
        conn.commit()  # a fresh snapshot
        with conn.cursor() as cursor:
            cursor.execute("SELECT column_type FROM information_schema.columns WHERE table_schema = %s "
                           "AND table_name = %s ORDER BY ordinal_position", (self.database, table))
            bits = bit_columns([column_type for (column_type,) in cursor.fetchall()])
            cursor.execute(f"SELECT * FROM `{table}`")
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, normalise_selected(row, bits))) for row in cursor.fetchall()]
        conn.commit()
        return {row["id"]: row for row in rows}


@pytest.fixture
def mysql_source(mariadb_source: MariaDBServer, fresh_database) -> Iterator[MysqlDriver]:
    driver = MysqlDriver(mariadb_source, fresh_database(mariadb_source, "t_sub"))
    driver.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, amount DOUBLE, note TEXT, data BLOB)")
    yield driver
    driver.close()


@pytest.fixture
def sqlite_source(mysql_source: MysqlDriver) -> MysqlDriver:
    """The conftest's `make_task` (and the re-run SQLite scenarios) take their source from here."""
    return mysql_source


def _records(subscriber: Subscriber, until: Any, timeout: float = 20) -> list:
    """Records (heartbeats skipped) until `until(records)` holds."""
    found: list = []
    deadline = time.monotonic() + timeout
    while not until(found):
        assert time.monotonic() < deadline, f"timed out; got {[(r.op, r.object) for r in found]}"
        record = subscriber.next_record(0.5)
        if record is not None and record.op != "heartbeat":
            found.append(record)
    return found


def _transactions(records: list) -> list[list]:
    """Records grouped begin..commit, checking the xid and commit time of each group."""
    groups: list[list] = []
    for record in records:
        if record.op == "begin":
            groups.append([])
        groups[-1].append(record)
    for group in groups:
        begin, *body, commit = group
        assert (begin.op, commit.op) == ("begin", "commit"), [r.op for r in group]
        assert all(r.xid == begin.seq for r in group)
        assert [r.seq for r in group] == list(range(begin.seq, begin.seq + len(group)))
        assert len({r.envelope["commit_ts"] for r in group}) == 1
        assert body
    return groups


def test_dml_pk_change_ddl_and_a_multi_statement_transaction(make_task, mysql_source):
    db = mysql_source.database
    task = make_task()
    task.apply()
    src = mysql_source
    src.execute("INSERT INTO orders VALUES (1, 1.5, 'one', NULL)")
    src.execute("INSERT INTO orders VALUES (2, 2.5, 'two', x'00ff')",
                "UPDATE orders SET note = 'uno' WHERE id = 1",
                "DELETE FROM orders WHERE id = 2")
    src.execute("UPDATE orders SET id = 10, amount = -0.25 WHERE id = 1")  # a primary-key change
    src.execute("ALTER TABLE orders ADD COLUMN placed DATETIME(3) NULL")
    src.execute("INSERT INTO orders VALUES (3, NULL, NULL, NULL, '2024-05-01 10:00:00.250')")
    src.execute("CREATE TABLE shipments (id INT PRIMARY KEY, order_id BIGINT NOT NULL)")
    src.execute("INSERT INTO shipments VALUES (7, 3)")
    src.execute("DELETE FROM orders WHERE id = 10")
    with Subscriber(task.dir, None, "g") as subscriber:
        records = _records(subscriber, lambda found: sum(r.op == "commit" for r in found) == 8)
        subscriber.commit()
    txs = _transactions(records)
    shapes = [[(r.op, r.object) for r in tx[1:-1]] for tx in txs]
    orders, shipments = f"{db}.orders", f"{db}.shipments"
    assert shapes == [
        [("insert", orders)],
        [("insert", orders), ("update", orders), ("delete", orders)],
        [("update", orders)],
        [("ddl", orders)],
        [("insert", orders)],
        [("ddl", shipments)],
        [("insert", shipments)],
        [("delete", orders)],
    ]
    one = {"id": 1, "amount": 1.5, "note": "one", "data": None}
    uno = dict(one, note="uno")
    two = {"id": 2, "amount": 2.5, "note": "two", "data": b"\x00\xff"}
    ten = {"id": 10, "amount": -0.25, "note": "uno", "data": None}
    images = [(r.before, r.after) for tx in txs for r in tx[1:-1] if r.op != "ddl"]
    assert images == [
        (None, one),
        (None, two), (one, uno), (two, None),
        (uno, ten),
        (None, {"id": 3, "amount": None, "note": None, "data": None,
                "placed": datetime.datetime(2024, 5, 1, 10, 0, 0, 250000)}),
        (None, {"id": 7, "order_id": 3}),
        (dict(ten, placed=None), None),
    ]
    alter, create = txs[3][1].envelope, txs[5][1].envelope
    assert alter["ddl"]["kind"] == "alter" and alter["ddl"]["dialect"] == "mysql"
    assert alter["ddl"]["statement"] == f"ALTER TABLE `{db}`.`orders` ADD COLUMN placed DATETIME(3) NULL"
    assert (alter["before"], alter["after"]) == (None, None)
    assert create["ddl"]["kind"] == "create" and create["ddl"]["key"] == ["id"]
    assert create["ddl"]["statement"] == (f"CREATE TABLE `{db}`.`shipments` "
                                          "(id INT PRIMARY KEY, order_id BIGINT NOT NULL)")
    envelope = txs[1][1].envelope
    assert envelope["after"]["data"] == "AP8=" and envelope["types"] == {"data": "bytes"}
    assert envelope["commit_time"].endswith("+00:00")
    assert set(envelope["position"]) == {"file", "pos"}  # a row record: its rows event
    assert set(txs[1][-1].envelope["position"]) == {"gtid", "file", "pos"}  # a commit: the GTID state after it
    assert txs[4][1].envelope["after"]["placed"] == "2024-05-01T10:00:00.250000"
    positions = [tx[-1].envelope["position"]["gtid"] for tx in txs]
    assert len(set(positions)) == len(txs)  # one source transaction per begin..commit


# The JSON form of TYPE_ROWS 1 and 3 in the envelope, written out by hand.
TYPES = {"dec1": "decimal", "dec2": "decimal", "dt": "date", "dtm": "datetime", "ts": "datetime",
         "tm": "duration", "bn": "bytes", "vb": "bytes", "bl": "bytes"}
ROW1_JSON = {
    "id": 1, "ti": -128, "tiu": 255, "si": -32768, "siu": 65535, "mi": -8388608, "miu": 16777215,
    "i": -2147483648, "iu": 4294967295, "bi": -9223372036854775808, "biu": 18446744073709551615,
    "dec1": "12345678901234567890123456789012345.123456789012345678901234567890", "dec2": "9999999999",
    "f": 1.5, "d": 2.718281828459045, "dt": "1000-01-01", "dtm": "9999-12-31T23:59:59.999999",
    "ts": "2038-01-19T03:14:07.123456", "tm": "-838:59:59", "yr": 2155, "c": "pad", "vc": "emoji 😀 ✓",
    "tx": "text\n\t'\"\\", "lt": "x" * 70000, "bn": "AP8QgA==", "vb": base64.b64encode(b"\x00\x01bytes\xfe").decode(),
    "bl": base64.b64encode(bytes(range(256))).decode(), "en": "large", "st": "a,c",
    "js": '{"k": [1, 2.5, "v", null, {"n": true}]}', "bt": 2730,
}
ROW3_JSON = {
    "id": 3, "ti": 0, "tiu": 0, "si": 0, "siu": 0, "mi": 0, "miu": 0, "i": 0, "iu": 0, "bi": 0, "biu": 0,
    "dec1": "-0.000000000000000000000000000001", "dec2": "0", "f": -0.0, "d": -1e308, "dt": "2024-02-29",
    "dtm": "1970-01-01T00:00:01", "ts": "1970-01-01T00:00:01", "tm": "00:00:00.000001", "yr": 1901,
    "c": "", "vc": "", "tx": "", "lt": "", "bn": "AAAAAA==", "vb": "", "bl": "", "en": "small", "st": "",
    "js": "[]", "bt": 0,
}


def test_every_type_exact_as_envelope_json_and_as_python_values(make_task, mysql_source):
    src = mysql_source
    src.execute(TYPES_DDL.format(db=src.database))
    task = make_task()
    task.apply()
    for row in TYPE_ROWS:  # in a UTC session, so the TIMESTAMP is the same instant on every machine
        src.execute(f"INSERT INTO every_type VALUES ({', '.join(['%s'] * len(row))})",
                    params=tuple(to_param(value) for value in row))
    inserted = src.select("every_type")
    assert len(inserted) == 3
    # row 1 takes row 3's values (every column changes), row 3 is deleted
    columns = list(ROW1_JSON)[1:]
    src.execute("UPDATE every_type AS a JOIN every_type AS b ON b.id = 3 SET "
                + ", ".join(f"a.`{c}` = b.`{c}`" for c in columns) + " WHERE a.id = 1")
    updated = src.select("every_type")
    src.execute("DELETE FROM every_type WHERE id = 3")
    with Subscriber(task.dir, None, "g") as subscriber:
        rows = [r for r in _records(subscriber, lambda found: sum(r.op == "commit" for r in found) == 5)
                if r.op not in ("begin", "commit")]
    assert [(r.op, r.object) for r in rows] == [("insert", f"{src.database}.every_type")] * 3 + [
        ("update", f"{src.database}.every_type"), ("delete", f"{src.database}.every_type")]
    ins1, ins2, ins3, update, delete = rows

    # Python values through the SDK: exactly what pymysql reads from the source
    assert [ins1.after, ins2.after, ins3.after] == [inserted[1], inserted[2], inserted[3]]
    assert (update.before, update.after) == (inserted[1], updated[1])
    assert (delete.before, delete.after) == (inserted[3], None)
    for got, want in ((ins1.after, inserted[1]), (ins3.after, inserted[3]), (update.after, updated[1])):
        assert {name: type(value) for name, value in got.items()} == {name: type(value) for name, value in want.items()}
    assert ins1.after["dec1"] == decimal.Decimal(ROW1_JSON["dec1"]) and ins1.after["bt"] == 0b101010101010
    assert ins1.after["tm"] == datetime.timedelta(hours=-838, minutes=-59, seconds=-59)
    assert ins3.after["dec1"].as_tuple() == decimal.Decimal(ROW3_JSON["dec1"]).as_tuple()  # scale kept

    # the envelope JSON, as stored and as every consumer (and the Redis stream) gets it
    envelope = ins1.envelope
    assert envelope["after"] == ROW1_JSON and envelope["types"] == TYPES and envelope["before"] is None
    assert ins2.envelope["after"] == {name: None for name in ROW1_JSON} | {"id": 2}
    assert ins2.envelope["types"] == {}
    assert ins3.envelope["after"] == ROW3_JSON and ins3.envelope["types"] == TYPES
    assert json.loads(update.json)["before"] == ROW1_JSON
    assert json.loads(update.json)["after"] == ROW3_JSON | {"id": 1}
    assert delete.envelope["before"] == ROW3_JSON and delete.envelope["after"] is None
    raw = json.loads(ins3.json, parse_float=str)  # floats as written: the shortest repr that reads back
    assert (raw["after"]["f"], raw["after"]["d"]) == (repr(inserted[3]["f"]), "-1e+308")


def test_replay_from_a_time_inside_the_whole_second_of_a_binlog_timestamp(make_task, mysql_source):
    """Binlog commit times are whole seconds: a transaction committed 0.05 s after the time asked
    for carries a commit time before it, and must be replayed all the same."""
    task = make_task()
    task.apply()
    before = time.time()
    mysql_source.execute("INSERT INTO orders (id) VALUES (1)")
    task.wait_recorded(1)
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)  # 0.3 s into a later second
    middle = time.time()
    time.sleep(0.05)
    mysql_source.execute("INSERT INTO orders (id) VALUES (2)")
    task.wait_recorded(2)
    with Subscriber(task.dir, None, "g", start=middle) as subscriber:
        begin = subscriber.next_record(2)
        assert begin.op == "begin" and begin.envelope["commit_ts"] == math.floor(middle) < middle
        row = _records(subscriber, lambda found: found and found[-1].op == "commit")[0]
        assert (row.op, row.after["id"]) == ("insert", 2)
    with Subscriber(task.dir, None, "g", start=datetime.datetime.fromtimestamp(before)) as subscriber:
        rows = _records(subscriber, lambda found: sum(r.op == "commit" for r in found) == 2)
        assert [r.after["id"] for r in rows if r.op == "insert"] == [1, 2]


# The SQLite scenarios, against MariaDB (`sqlite_source` above is the MySQL driver).
test_offsets_survive_consumer_restarts_and_groups_progress_independently = \
    test_records.test_offsets_survive_consumer_restarts_and_groups_progress_independently
test_three_consumers_of_a_group_one_killed_another_takes_over_nothing_lost_or_skipped = \
    test_failover.test_three_consumers_of_a_group_one_killed_another_takes_over_nothing_lost_or_skipped
test_agent_killed_while_a_consumer_reads_loses_and_reorders_nothing = \
    test_failover.test_agent_killed_while_a_consumer_reads_loses_and_reorders_nothing
