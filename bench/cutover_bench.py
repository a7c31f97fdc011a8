"""Cutover benchmark: the write downtime of a MariaDB switch-over, dtsctl against native replication.

    flock /tmp/dtsctl-bench.lock .venv/bin/python bench/cutover_bench.py [--megabytes 1024] [--rate 1000]
    flock /tmp/dtsctl-bench.lock .venv/bin/python bench/cutover_bench.py --quick [--profile cutover.txt]

A `--megabytes` table (rows of about 1 KB) is replicated two ways from one source, in one run:

1. native: a MariaDB replica (GTID). The switch-over by hand: `SET GLOBAL read_only = ON` on
   the source, `MASTER_GTID_WAIT` on the replica for the source's final GTID, `STOP SLAVE`.
2. dtsctl: a migration task, then `cutover: {freeze_source: true, reverse: true}` applied; the
   downtime is the one apply prints (freeze -> completed), with each step's duration.

An application account writes about `--rate` rows/s to the source until the freeze refuses it.
Both switch-overs are measured on the same data in the same run; the ratio is dtsctl / native.
`--quick` uses a 64 MB table. Private servers run in a temporary folder and are removed at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pymysql  # noqa: E402

from bench.mysql_bench import DTSCTL, dtsctl, server, start_native_replica, wait_until  # noqa: E402
from tests.servers.mariadb import MariaDBServer  # noqa: E402

ROW_BYTES = 1000
APP = ("app", "app-pw")


class AppLoad(threading.Thread):
    """`rate` rows/s of 1 KB as an account without SUPER, until stopped; refused writes are counted."""

    def __init__(self, src: MariaDBServer, rate: int) -> None:
        super().__init__(daemon=True)
        self.src, self.rate = src, rate
        self.stop = threading.Event()
        self.written = self.refused = 0

    def run(self) -> None:
        connection = pymysql.connect(**self.src.connection_settings(*APP), database="bench", autocommit=True)
        started = time.monotonic()
        while not self.stop.is_set():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("INSERT INTO bench.items (payload) VALUES " + ", ".join(["(REPEAT('a', %s))"] * 10),
                                   [ROW_BYTES] * 10)
                self.written += 10
            except pymysql.err.OperationalError:
                self.refused += 1
            ahead = self.written / self.rate - (time.monotonic() - started)
            self.stop.wait(max(ahead, 0.001))


def seed(src: MariaDBServer, megabytes: int) -> int:
    rows = megabytes * 1_000_000 // ROW_BYTES
    src.execute("CREATE DATABASE bench")
    src.execute("CREATE TABLE bench.items (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(1024) NOT NULL)")
    for start in range(0, rows, 100_000):
        src.execute(f"INSERT INTO bench.items (payload) SELECT REPEAT(CHAR(97 + seq % 26), {ROW_BYTES}) "
                    f"FROM bench.seq_1_to_{min(100_000, rows - start)}")
    src.execute(f"CREATE USER '{APP[0]}'@'%' IDENTIFIED BY '{APP[1]}'")
    src.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON bench.* TO '{APP[0]}'@'%'")
    return rows


def native_switch(src: MariaDBServer, replica: MariaDBServer) -> float:
    """Freeze -> the replica applied the source's final GTID and stopped replicating."""
    frozen_at = time.monotonic()
    src.execute("SET GLOBAL read_only = ON")
    final = src.query("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
    replica.query("SELECT MASTER_GTID_WAIT(%s, 300)", final)
    replica.execute("STOP SLAVE")
    downtime = time.monotonic() - frozen_at
    src.execute("SET GLOBAL read_only = OFF")
    return downtime


def endpoint(db: MariaDBServer) -> str:
    return f'{{engine: mysql, host: 127.0.0.1, port: {db.port}, user: root, password: ""}}'


def declare(workspace: Path, src: MariaDBServer, dst: MariaDBServer, cutover: str = "") -> None:
    (workspace / "main.dts.yaml").write_text(f"""endpoints:
  old: {endpoint(src)}
  new: {endpoint(dst)}
tasks:
  move:
    type: migration
    source: old
    destination: new
    objects: [{{database: bench, all: true}}]
    {cutover}
""")


def dtsctl_switch(workspace: Path, src: MariaDBServer, dst: MariaDBServer, profile: Path | None) -> tuple[float, str]:
    """The cutover's apply; with `profile`, recorded by py-spy (collapsed stacks) into that file."""
    declare(workspace, src, dst, "cutover: {freeze_source: true, reverse: true, max_lag: 5}")
    if profile is None:
        output = dtsctl(workspace, "apply", "--auto-approve")
    else:
        output = subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "-o",
                                 str(profile), "--", *DTSCTL, "-C", str(workspace), "apply", "--auto-approve"],
                                capture_output=True, text=True, check=True).stdout
    found = re.search(r"write downtime \(freeze to completed\): (\d+\.\d+)s", output)
    if found is None:
        raise RuntimeError(f"no downtime in the apply output:\n{output}")
    return float(found.group(1)), output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a 64 MB table")
    parser.add_argument("--profile", type=Path, help="record the cutover's apply with py-spy into this file")
    args = parser.parse_args()
    megabytes = 64 if args.quick else args.megabytes
    root = Path(tempfile.mkdtemp(prefix="dtsctl-cutover-bench-"))
    servers = [server(30), server(31), server(32)]
    src, replica, dst = servers
    try:
        start_native_replica(src, replica)
        started = time.monotonic()
        rows = seed(src, megabytes)
        print(f"seeded {rows} rows ({megabytes} MB) in {time.monotonic() - started:.1f}s", flush=True)
        workspace = root / "dtsctl"
        workspace.mkdir()
        declare(workspace, src, dst)
        started = time.monotonic()
        dtsctl(workspace, "apply", "--auto-approve")
        dtsctl(workspace, "wait", "task.move", "--phase", "incremental", "--timeout", "3600")
        print(f"dtsctl reached incremental in {time.monotonic() - started:.1f}s", flush=True)
        wait_until(lambda: replica.query("SELECT count(*) FROM bench.items")[0][0] >= rows, timeout=3600)

        load = AppLoad(src, args.rate)
        load.start()
        time.sleep(5)
        native = native_switch(src, replica)  # the load is refused during the freeze, then goes on
        time.sleep(5)
        try:
            switched, output = dtsctl_switch(workspace, src, dst, args.profile)
        finally:
            load.stop.set()
            load.join()
        steps = [line for line in output.splitlines() if line.startswith("task.move: ") and "(" in line]
        print("\n".join(steps))
        print(f"app rows written {load.written}, refused batches {load.refused}")
        print(f"write downtime: native {native:.2f}s, dtsctl {switched:.2f}s, ratio {switched / native:.1f}x")
        dtsctl(workspace, "destroy", "--auto-approve")  # the reverse task's agent and the supervisor stop
        return 0
    finally:
        for db in servers:
            db.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
