"""SQLite throughput of dtsctl's engine against plain-SQLite baselines in the same run.

    .venv/bin/python bench/sqlite_bench.py [--rows 200000] [--changes 50000]

Full copy: dtsctl (chunked by key, upsert + checkpoint per chunk) vs one
`INSERT INTO ... SELECT` over ATTACH. Incremental: dtsctl end to end (capture
table -> change log -> destination, each batch committed with its checkpoint)
vs replaying the same changes as plain statements on one connection.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from dtsctl.engine.progress import Progress
from dtsctl.runtime import lifecycle

COLUMNS = "id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT"


def attributes(source: Path, destination: Path, phases: list[str]) -> dict:
    endpoint = {"engine": "sqlite", "host": None, "port": None, "user": None, "password": None,
                "database": None, "cluster": False}
    return {
        "type": "synchronization", "source": "s", "destination": "d", "phases": phases,
        "source_endpoint": {**endpoint, "path": str(source)}, "destination_endpoint": {**endpoint, "path": str(destination)},
        "objects": [{"database": "main", "all": True, "tables": None, "rename": None, "table_rename": {},
                     "filter": {}, "dml": ["insert", "update", "delete"], "ddl": True}],
        "conflict_policy": "fail", "throttle": {"rps": 0, "mbps": 0},
        "retry": {"connection_minutes": 1, "other_minutes": 1}, "status": "running", "lifecycle": {},
        "workspace": str(source.parent),
    }


def make_source(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE orders ({COLUMNS})")
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                     ((i, i % 977, i * 1.25, f"order number {i} for a customer") for i in range(1, rows + 1)))
    conn.commit()
    conn.close()


def bench_full_copy(work: Path, rows: int) -> tuple[float, float]:
    source = work / "full-source.db"
    make_source(source, rows)
    baseline = work / "baseline.db"
    conn = sqlite3.connect(baseline)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE orders ({COLUMNS})")
    conn.execute("ATTACH ? AS src", (str(source),))
    started = time.perf_counter()
    conn.execute("INSERT INTO main.orders SELECT * FROM src.orders")
    conn.commit()
    baseline_rate = rows / (time.perf_counter() - started)
    conn.close()

    attrs = attributes(source, work / "full-destination.db", ["schema", "full"])
    runner = lifecycle.pipeline_for(attrs, "bench-full").runner(work / "full-changelog.db", Progress(), threading.Event(),
                                                                lambda: None)
    started = time.perf_counter()
    runner.run()
    return rows / (time.perf_counter() - started), baseline_rate


def write_changes(conn: sqlite3.Connection, count: int, first_new_id: int) -> list[tuple[str, tuple]]:
    """A user workload (1/2 inserts, 1/3 updates, 1/6 deletes) in transactions of 10; returns the statements."""
    statements = []
    for n in range(count):
        kind = n % 6
        if kind < 3:
            statements.append(("INSERT INTO orders VALUES (?, ?, ?, ?)", (first_new_id + n, n, n * 0.5, "new")))
        elif kind < 5:
            statements.append(("UPDATE orders SET amount = amount + 1 WHERE id = ?", (n + 1,)))
        else:
            statements.append(("DELETE FROM orders WHERE id = ?", (n + 2,)))
    for start in range(0, count, 10):
        conn.execute("BEGIN")
        for sql, params in statements[start:start + 10]:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    return statements


def bench_incremental(work: Path, rows: int, changes: int) -> tuple[float, float]:
    source, destination = work / "inc-source.db", work / "inc-destination.db"
    make_source(source, rows)
    attrs = attributes(source, destination, ["schema", "full", "incremental"])
    lifecycle.prepare(attrs, "bench-incr")
    stop, progress = threading.Event(), Progress()
    runner = lifecycle.pipeline_for(attrs, "bench-incr").runner(work / "inc-changelog.db", progress, stop, lambda: None)
    thread = threading.Thread(target=runner.run)
    thread.start()
    while progress.phase != "incremental":
        time.sleep(0.01)
    stop.set()
    thread.join()

    baseline = work / "replay.db"
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("ATTACH ? AS copy", (str(baseline),))
    conn.execute(f"CREATE TABLE copy.orders ({COLUMNS})")
    conn.execute("INSERT INTO copy.orders SELECT * FROM main.orders")
    conn.execute("DETACH copy")
    statements = write_changes(conn, changes, rows + 1)  # captured by the triggers while the agent is down
    conn.close()

    stop, progress = threading.Event(), Progress()
    runner = lifecycle.pipeline_for(attrs, "bench-incr").runner(work / "inc-changelog.db", progress, stop, lambda: None)
    started = time.perf_counter()
    thread = threading.Thread(target=runner.run)
    thread.start()
    while progress.snapshot()["events_applied"] < changes:
        time.sleep(0.005)
    rate = changes / (time.perf_counter() - started)
    stop.set()
    thread.join()

    replay = sqlite3.connect(baseline, isolation_level=None)
    replay.execute("PRAGMA journal_mode=WAL")
    started = time.perf_counter()
    for start in range(0, changes, 5000):  # the same batch size as the applier
        replay.execute("BEGIN")
        for sql, params in statements[start:start + 5000]:
            replay.execute(sql, params)
        replay.execute("COMMIT")
    return rate, changes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        full, full_baseline = bench_full_copy(work, args.rows)
        incremental, replay = bench_incremental(work, args.rows, args.changes)
    print(f"full copy   {args.rows:>8} rows     dtsctl {full:>10,.0f} rows/s    "
          f"INSERT..SELECT over ATTACH {full_baseline:>10,.0f} rows/s   ({full / full_baseline:.0%})")
    print(f"incremental {args.changes:>8} changes  dtsctl {incremental:>10,.0f} events/s  "
          f"single-connection replay   {replay:>10,.0f} events/s ({incremental / replay:.0%})")


if __name__ == "__main__":
    main()
