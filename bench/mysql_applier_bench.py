"""The MySQL applier alone: CPU seconds to apply a change log of inserts to a private MariaDB.

`bench/mysql_bench.py` reports the agent's CPU as its reader and applier processes summed, and
the reader's share swings with the machine's load; this measures only what the applier process
does per row (`Applier.apply_next` with `MysqlSink`: reading and decoding the change-log records,
routing, the statements and the destination's answers), in this process. The change log holds
transactions of the `bench.orders` rows of `mysql_bench.py` (BIGINT key, INT, DECIMAL, VARCHAR,
DATETIME(6)), written before the clock starts.

    .venv/bin/python bench/mysql_applier_bench.py [--transactions 20000] [--rows 1] [--profile]

To measure other code (an export of an earlier commit), run it from that directory with
`PYTHONPATH=.`: the repository is appended to the path, so the earlier `dtsctl` comes first.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import decimal
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))

from dtsctl.connectors.mysql import position as positions  # noqa: E402
from dtsctl.connectors.mysql.sink import MysqlSink  # noqa: E402
from dtsctl.engine.changelog import ChangeLog  # noqa: E402
from dtsctl.engine.checkpoint import Checkpoint, TableProgress  # noqa: E402
from dtsctl.engine.conflicts import ConflictPolicy, Conflicts  # noqa: E402
from dtsctl.engine.events import ChangeEvent, Transaction  # noqa: E402
from dtsctl.engine.tables.applier import Applier  # noqa: E402
from dtsctl.engine.tables.interfaces import Column, TableSchema  # noqa: E402
from dtsctl.engine.tables.selection import TablePlan  # noqa: E402
from dtsctl.engine.throttle import Throttle  # noqa: E402
from tests.servers.mariadb import MariaDBServer  # noqa: E402

TABLE_DDL = ("CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL,"
             " note VARCHAR(64), created DATETIME(6) NOT NULL, KEY by_customer (customer_id)) DEFAULT CHARSET=utf8mb4")
COLUMNS = (Column("id", "bigint", True), Column("customer_id", "int", True), Column("amount", "decimal(12,2)", True),
           Column("note", "varchar(64)"), Column("created", "datetime(6)", True))


def fill(changelog: ChangeLog, transactions: int, rows: int) -> None:
    created = datetime.datetime(2026, 12, 2, 15, 0, 0, 123456)
    batch: list[Transaction] = []
    for number in range(transactions):
        events = []
        for index in range(rows):
            row_id = number * rows + index + 1
            at = positions.make(f"0-1-{number}", "bin.000001", 1000 + row_id * 100)
            events.append(ChangeEvent("bench", "orders", "insert", None, {
                "id": row_id, "customer_id": row_id % 1000, "amount": decimal.Decimal("1.50"), "note": "backlog",
                "created": created}, 1.7e9 + number, at))
        batch.append(Transaction(tuple(events), at, 1.7e9 + number))
        if len(batch) == 2000 or number == transactions - 1:
            changelog.append(batch, at)
            batch = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1, help="rows per transaction")
    parser.add_argument("--profile", action="store_true", help="cProfile the apply, print the top functions")
    args = parser.parse_args()
    server = MariaDBServer(server_id=7).start()
    try:
        server.execute("CREATE DATABASE bench")
        server.execute(TABLE_DDL)
        changelog = ChangeLog(Path(tempfile.mkdtemp(prefix="dtsctl-applier-bench-")) / "changelog.db")
        fill(changelog, args.transactions, args.rows)
        sink = MysqlSink({"engine": "mysql", "host": "127.0.0.1", "port": server.port, "user": "root", "password": "",
                          "path": None, "database": None, "cluster": False}, "bench")
        plan = TablePlan("bench", "orders", "bench", "orders", None, frozenset({"insert", "update", "delete"}))
        applier = Applier(sink, changelog, [plan], {plan.name: TableSchema("bench", "orders", COLUMNS, ("id",))},
                          Conflicts(ConflictPolicy.FAIL), positions.order, Throttle(0, 0, threading.Event()))
        checkpoint = Checkpoint(tables={plan.name: TableProgress(destination=plan.dest_name, schema_done=True,
                                                                 copy_done=True, copy_end=[1, 0])})
        sink.save_checkpoint(checkpoint.to_json())
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.monotonic()
        if profiler is not None:
            profiler.enable()
        while applier.apply_next(checkpoint):
            pass
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        total = args.transactions * args.rows
        applied = server.connect("root").cursor()
        applied.execute("SELECT count(*) FROM bench.orders")
        assert applied.fetchone() == (total,), "not every row arrived"
        print(f"{total:,} rows in transactions of {args.rows}: applier CPU {cpu:.2f} s "
              f"({cpu / total * 1e6:.1f} µs/row), wall {wall:.2f} s")
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
