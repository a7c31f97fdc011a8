"""Two-way MariaDB benchmark: what a pair's loop prevention and conflict detection cost.

    .venv/bin/python bench/two_way_bench.py [--changes 50000]

Each case writes `--changes` single-row transactions on A while replication to B
is stopped, then resumes it and times the catch-up (rows/s applied on B), in one run:

1. native replica: MariaDB's own replication (baseline);
2. dtsctl one-way: a `synchronization` task A -> B;
3. dtsctl two-way, B idle: the forward direction of a pair (its transactions are
   tagged; its reader records row keys; nothing was written on B);
4. dtsctl two-way, both sides: as 3, but B also wrote `--changes` rows of its own
   (other ids) while both directions were paused, and both catch up at once, so
   every batch is checked against the other side's recorded writes. Reported as
   rows/s applied by both directions together.

Private servers are started in a temporary folder (tests/servers) and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.mysql_bench import (catch_up_rate, dtsctl, prepare_stream_source, rows_in, server,  # noqa: E402
                               start_native_replica, wait_until, write_backlog)
from tests.servers.mariadb import MariaDBServer  # noqa: E402


def endpoint(db: MariaDBServer) -> str:
    return f'{{engine: mysql, host: 127.0.0.1, port: {db.port}, user: root, password: ""}}'


def declare(workspace: Path, a: MariaDBServer, b: MariaDBServer, two_way: bool, status: str) -> None:
    if two_way:
        body = f"""topologies:
  pair:
    type: two-way
    endpoints: [a, b]
    initial_sync_from: a
    objects: [{{database: bench, all: true}}]
    status: {status}
"""
    else:
        body = f"""tasks:
  bench:
    type: synchronization
    source: a
    destination: b
    objects: [{{database: bench, all: true}}]
    status: {status}
"""
    (workspace / "main.dts.yaml").write_text(f"endpoints:\n  a: {endpoint(a)}\n  b: {endpoint(b)}\n{body}")
    dtsctl(workspace, "apply", "--auto-approve")


def dtsctl_case(root: Path, name: str, changes: int, two_way: bool, b_writes: bool) -> float:
    a, b = server(20), server(21)
    try:
        prepare_stream_source(a)
        workspace = root / name
        workspace.mkdir()
        declare(workspace, a, b, two_way, "running")
        first = "topology.pair.task.forward" if two_way else "task.bench"
        dtsctl(workspace, "wait", first, "--timeout", "300")
        if two_way:
            dtsctl(workspace, "wait", "topology.pair.task.reverse", "--timeout", "300")
        wait_until(lambda: rows_in(b, "orders") == 0, timeout=60)

        def stop() -> None:
            declare(workspace, a, b, two_way, "paused")
            write_backlog(a, 1, changes)
            if b_writes:
                write_backlog(b, 10_000_000, changes)

        if not b_writes:
            rate = catch_up_rate(a, b, changes, stop, lambda: declare(workspace, a, b, two_way, "running"), None).rate
        else:  # both directions apply `changes` rows at once: rows/s applied in all
            stop()
            start = time.monotonic()
            declare(workspace, a, b, two_way, "running")
            done = wait_until(lambda: rows_in(a, "orders") == rows_in(b, "orders") == 2 * changes,
                              timeout=3600, poll=0.02)
            rate = 2 * changes / (done - start)
        dtsctl(workspace, "destroy", "--auto-approve")
        return rate
    finally:
        a.close()
        b.close()


def native_case(changes: int) -> float:
    a, b = server(20), server(21)
    try:
        start_native_replica(a, b)
        prepare_stream_source(a)
        wait_until(lambda: rows_in(b, "orders") == 0, timeout=60)
        return catch_up_rate(a, b, changes, lambda: (b.execute("STOP SLAVE"), write_backlog(a, 1, changes)),
                             lambda: b.execute("START SLAVE"), None).rate
    finally:
        a.close()
        b.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=50_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dtsctl-bench-"))
    cases: list[tuple[str, Callable[[], float]]] = [
        ("native replica", lambda: native_case(args.changes)),
        ("dtsctl one-way", lambda: dtsctl_case(root, "one-way", args.changes, False, False)),
        ("dtsctl two-way, B idle", lambda: dtsctl_case(root, "pair-idle", args.changes, True, False)),
        ("dtsctl two-way, both sides", lambda: dtsctl_case(root, "pair-both", args.changes, True, True)),
    ]
    try:
        results = [(name, run()) for name, run in cases]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; changes={args.changes} single-row transactions")
    baseline = results[0][1]
    for name, rate in results:
        print(f"catch-up  {name:<28} {rate:10,.0f} rows/s  ({rate / baseline:.0%} of native)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
