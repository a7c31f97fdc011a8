"""MariaDB benchmark: dtsctl against MariaDB's own tools, on the same machine, in one run.

    .venv/bin/python bench/mysql_bench.py [--rows 1000000] [--changes 200000] [--paced-rate 5000] [--paced-seconds 20]
    .venv/bin/python bench/mysql_bench.py --quick [--full-only | --incremental-only] [--runtime etcd]

`--quick` is a smaller run (200,000 rows, 40,000 changes, 10 s paced) that finishes in a
few minutes; `--full-only` runs only measure 1, `--incremental-only` only 2 to 4;
`--profile FILE` records the agent (every thread, and its reader process) with py-spy
(collapsed stacks) into FILE during the full copy, or with `--incremental-only` during the
catch-up of single-row transactions (of 10-row ones with `--profile-grouped`).
`--runtime etcd` runs the dtsctl side on the cluster runtime (docs/cluster.md): a private
1-member etcd and one `dtsctl node run`, so its agents fence every checkpoint write.
The native replica the incremental goals are measured against writes what it applies to its own
binlog (`log_slave_updates`), as dtsctl's destination always does: the goals ask for the same
durability settings on both sides (issue 13), and a destination's binlog is what point-in-time recovery,
its own replicas and a cutover's reverse task read. MariaDB's default replica does not
(`log_slave_updates` is off by default); its catch-ups are run and printed too, beside the goal's.

1. Full copy of a `--rows` table: `mariadb-dump | mariadb` (baseline) vs a dtsctl
   migration with phases [schema, full], timed from `apply` until the agent's status.json
   says `completed`; with the CPU seconds both servers and the clients (the dump and
   client programs; `apply` and the agent) spent, and the agent's peak resident memory.
2. Incremental, sustained: `--changes` single-row transactions are written while
   replication is stopped (a native replica's STOP SLAVE, for both kinds above; a paused dtsctl task),
   then replication resumes and the catch-up is timed: rows/s applied, not
   limited by how fast one client can write. A second line gives the rate once the
   backlog's first row has arrived, and when it arrived: for dtsctl the resume is an
   `apply` that prechecks and starts a new agent, for the replica a START SLAVE.
3. The same with `--changes` rows in transactions of 10 rows.
4. Incremental lag at `--paced-rate` rows/s for `--paced-seconds`: probe rows carry
   their insert time; a poller on the destination records when each arrives
   (end-to-end lag), p50 and p99, for the native replica and for dtsctl.
During 2 to 4 the agent's resident memory (its processes summed) is sampled; the peak is printed,
with the peak of their proportional sets (pages the forked reader still shares with the agent once).

Private servers are started in a temporary folder (tests/servers) and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pymysql  # noqa: E402

from tests.servers.mariadb import MariaDBServer  # noqa: E402

SERVER_OPTIONS = ["--innodb-buffer-pool-size=512M", "--max-allowed-packet=256M"]
DTSCTL = [sys.executable, "-m", "dtsctl"]
TABLE_DDL = ("CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL,"
             " note VARCHAR(64), created DATETIME(6) NOT NULL, KEY by_customer (customer_id)) DEFAULT CHARSET=utf8mb4")
FULL_SIZES = {"rows": 1_000_000, "changes": 200_000, "paced_seconds": 20.0}
QUICK_SIZES = {"rows": 200_000, "changes": 40_000, "paced_seconds": 10.0}
PROBE_DDL = "CREATE TABLE bench.probes (id BIGINT PRIMARY KEY, sent DOUBLE NOT NULL, pad VARCHAR(64))"


def server(server_id: int, *options: str) -> MariaDBServer:
    return MariaDBServer(server_id=server_id, extra_args=[*SERVER_OPTIONS, *options]).start()


def dtsctl(workspace: Path, *args: str) -> str:
    result = subprocess.run([*DTSCTL, "-C", str(workspace), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dtsctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout[-2000:]}")
    return result.stdout


def task_status(workspace: Path) -> dict:
    return json.loads(dtsctl(workspace, "status", "--json"))["tasks"][0]


RUNTIME = {"declaration": ""}  # the `workspace: runtime:` section of every workspace (--runtime etcd)


def workspace_for(root: Path, name: str, src: MariaDBServer, dst: MariaDBServer, task_type: str, phases: str) -> Path:
    workspace = root / name
    workspace.mkdir()
    (workspace / "main.dts.yaml").write_text(f"""{RUNTIME["declaration"]}
endpoints:
  src: {{engine: mysql, host: 127.0.0.1, port: {src.port}, user: root, password: ""}}
  dst: {{engine: mysql, host: 127.0.0.1, port: {dst.port}, user: root, password: ""}}
tasks:
  bench:
    type: {task_type}
    source: src
    destination: dst
    phases: {phases}
    objects: [{{database: bench, all: true}}]
""")
    return workspace


def set_status(workspace: Path, status: str) -> None:
    """Pause or resume the task the way a user does: edit the declaration, apply."""
    declaration = workspace / "main.dts.yaml"
    text = declaration.read_text().split("    status:")[0].rstrip("\n")
    declaration.write_text(f"{text}\n    status: {status}\n")
    dtsctl(workspace, "apply", "--auto-approve")


def wait_until(predicate, timeout: float, poll: float = 0.05) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long; see the agent log")
        time.sleep(poll)
    return time.monotonic()


def rows_in(db: MariaDBServer, table: str) -> int:
    try:
        return int(db.scalar(f"SELECT COUNT(*) FROM bench.{table}"))
    except pymysql.err.ProgrammingError:  # the table is not there yet
        return -1


# -- 1. full copy ---------------------------------------------------------------------------------

def seed(src: MariaDBServer, rows: int) -> None:
    src.execute("CREATE DATABASE bench")
    src.execute(TABLE_DDL)
    src.execute("INSERT INTO bench.orders SELECT seq, seq % 1000, seq / 7, CONCAT('order number ', seq), "
                f"NOW(6) FROM bench.seq_1_to_{rows}")


def cpu_seconds(pid: int | str) -> float:
    """User and system CPU seconds a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuUse:
    """CPU seconds both servers and the copying clients spend on one measure: unlike rows/s,
    a figure that other work on the machine hardly changes."""

    def __init__(self, src: MariaDBServer, dst: MariaDBServer) -> None:
        self.servers = (src, dst)
        self.start = [cpu_seconds(server.proc.pid) for server in self.servers]
        self.children_start = children_cpu_seconds()

    def seconds(self, agent: float = 0.0) -> tuple[float, float, float]:
        """(source server, destination server, clients): the finished child processes and `agent`."""
        source, destination = (cpu_seconds(server.proc.pid) - start for server, start in zip(self.servers, self.start))
        return source, destination, children_cpu_seconds() - self.children_start + agent


def full_copy_baseline(src: MariaDBServer, dst: MariaDBServer, rows: int) -> tuple[float, tuple[float, ...]]:
    """Rows/s, and the CPU seconds of CpuUse."""
    dst.execute("CREATE DATABASE bench")
    cpu = CpuUse(src, dst)
    start = time.monotonic()
    dump = subprocess.Popen([*src.dump_args(), "--single-transaction", "--quick", "bench"], stdout=subprocess.PIPE)
    subprocess.run([*dst.client_args(), "bench"], stdin=dump.stdout, check=True)
    if dump.wait() != 0:
        raise RuntimeError("mariadb-dump failed")
    elapsed = time.monotonic() - start
    used = cpu.seconds()
    assert rows_in(dst, "orders") == rows
    return rows / elapsed, used


def full_copy_dtsctl(root: Path, src: MariaDBServer, dst: MariaDBServer, rows: int,
                     profile: Path | None) -> tuple[float, tuple[float, ...], float]:
    """Rows/s from `apply` until the agent reports the task completed, the CPU seconds of
    CpuUse (`apply` and the agent as clients), and the agent's peak RSS in MB."""
    workspace = workspace_for(root, "full", src, dst, "migration", "[schema, full]")
    cpu = CpuUse(src, dst)
    start = time.monotonic()
    dtsctl(workspace, "apply", "--auto-approve")
    profiler = record_agent_tree(workspace, profile) if profile else None
    agent = AgentUsage(workspace)
    # The agent's own status.json, not `dtsctl status`: a CLI process every poll would take CPU from the copy.
    wait_until(lambda: agent.sample() and agent_state(workspace) in ("completed", "failed"), timeout=3600)
    elapsed = time.monotonic() - start
    used = cpu.seconds(agent.cpu_seconds)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)
    if task_status(workspace)["state"] != "completed" or rows_in(dst, "orders") != rows:
        raise RuntimeError(f"dtsctl full copy did not complete: {task_status(workspace)}")
    dtsctl(workspace, "destroy", "--auto-approve")
    return rows / elapsed, used, agent.peak_mb


def agent_dir(workspace: Path) -> Path:
    return workspace / ".dtsctl" / "tasks" / "task.bench"


def agent_state(workspace: Path) -> str | None:
    try:
        return json.loads((agent_dir(workspace) / "status.json").read_text()).get("state")
    except FileNotFoundError:
        return None


class AgentUsage:
    """The peak resident memory and CPU seconds of the agent and its reader process, summed, sampled
    from /proc while the bench waits for it (the CPU up to the last sample: the agent exits when
    the task completes)."""

    def __init__(self, workspace: Path) -> None:
        self.workspace, self.peak_mb, self.cpu_seconds = workspace, 0.0, 0.0

    def sample(self) -> bool:
        try:
            pids = agent_processes(int((agent_dir(self.workspace) / "agent.pid").read_text()))
            self.peak_mb = max(self.peak_mb, sum(map(resident_kb, pids)) / 1024)
            self.cpu_seconds = max(self.cpu_seconds, sum(map(cpu_seconds, pids)))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass  # not started yet, or already gone
        return True


# -- 2 and 3. incremental -------------------------------------------------------------------------

def start_native_replica(src: MariaDBServer, replica: MariaDBServer) -> None:
    replica.execute(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={src.port}, MASTER_USER='root', "
                    "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos")
    replica.execute("START SLAVE")


def prepare_stream_source(src: MariaDBServer) -> None:
    src.execute("DROP DATABASE IF EXISTS bench")
    src.execute("CREATE DATABASE bench")
    src.execute(TABLE_DDL)
    src.execute(PROBE_DDL)


def write_backlog(src: MariaDBServer, first_id: int, count: int, rows_per_transaction: int = 1,
                  writers: int = 4) -> None:
    """`count` rows in transactions of `rows_per_transaction` (autocommit for 1) from several clients (not timed)."""

    def write(writer: int) -> None:
        connection = src.root_connect()
        with connection.cursor() as cursor:
            ids = range(first_id + writer * rows_per_transaction, first_id + count, writers * rows_per_transaction)
            for start in ids:
                rows = [(row_id, row_id % 1000) for row_id in range(start, min(start + rows_per_transaction,
                                                                               first_id + count))]
                if rows_per_transaction > 1:
                    connection.begin()
                for row in rows:
                    cursor.execute("INSERT INTO bench.orders VALUES (%s, %s, 1.5, 'backlog', NOW(6))", row)
                if rows_per_transaction > 1:
                    connection.commit()
        connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass(frozen=True)
class CatchUp:
    """A timed catch-up: `rows` from `resume()` until the backlog's end arrived (`seconds`), the
    backlog's first row arriving after `first_row` seconds, and the CPU seconds of (source server,
    destination server, the agent's applier and reader) meanwhile."""

    rows: int
    seconds: float
    first_row: float
    cpu: tuple[float, ...]

    @property
    def rate(self) -> float:
        """Rows/s from the resume: the measure the goals name."""
        return self.rows / self.seconds

    @property
    def streaming_rate(self) -> float:
        """Rows/s once rows arrive: the rate without what starting up took."""
        return self.rows / max(self.seconds - self.first_row, 1e-9)


def catch_up_rate(src: MariaDBServer, dst: MariaDBServer, changes: int, stop: Callable[[], None],
                  resume: Callable[[], None], agent: AgentCpu | None, marker: int = -1) -> CatchUp:
    """The catch-up of the `changes` rows written during `stop()`, timed from `resume()`. The end is
    seen by a primary-key lookup of probe row `marker`, written on the source after those rows (both
    sides apply in source commit order): counting the table every poll cost the destination as much
    CPU as applying the rows did, and the longer a catch-up took the more of it. The first row is
    seen by the table's highest key (the backlog's keys are above every earlier row's), from the resume
    on."""
    target = rows_in(dst, "orders") + changes
    highest_before = dst.scalar("SELECT COALESCE(MAX(id), 0) FROM bench.orders")
    stop()
    src.execute("INSERT INTO bench.probes VALUES (%s, 0, 'end of the backlog')", marker)
    cpu = CpuUse(src, dst)
    if agent is not None:
        agent.start()
    start = time.monotonic()
    arrived: list[float] = []  # watched while `resume()` runs: `apply` returns only once the supervisor is up
    watcher = threading.Thread(target=lambda: arrived.append(wait_until(
        lambda: dst.scalar("SELECT COALESCE(MAX(id), 0) FROM bench.orders") > highest_before, timeout=3600,
        poll=0.01)), daemon=True)
    watcher.start()
    resume()
    watcher.join()
    first = arrived[0]
    done = wait_until(lambda: dst.scalar("SELECT COUNT(*) FROM bench.probes WHERE id = %s", marker) == 1,
                      timeout=3600, poll=0.02)
    source, destination, _ = cpu.seconds()
    if rows_in(dst, "orders") < target:
        raise RuntimeError(f"the backlog's end arrived before all of its {changes} rows")
    return CatchUp(changes, done - start, first - start,
                   (source, destination, *((0.0, 0.0) if agent is None else agent.seconds())))


class AgentCpu:
    """CPU seconds the task's agent (its applier) and its reader process used since `start`. A
    paused task's agent exits, so a catch-up's figure includes its new agent's start."""

    def __init__(self, workspace: Path) -> None:
        self.pid_file = workspace / ".dtsctl" / "tasks" / "task.bench" / "agent.pid"
        self.before: dict[int, float] = {}

    def _now(self) -> dict[int, float]:
        try:
            return {pid: cpu_seconds(pid) for pid in agent_processes(int(self.pid_file.read_text()))}
        except (OSError, ValueError):
            return {}

    def start(self) -> None:
        self.before = self._now()

    def seconds(self) -> tuple[float, float]:
        """(the agent's process, its reader process)."""
        used = [seconds - self.before.get(pid, 0.0) for pid, seconds in self._now().items()]
        return (used[0], sum(used[1:])) if used else (0.0, 0.0)


def paced_lag(src: MariaDBServer, dst: MariaDBServer, first_id: int, rate: int, seconds: float) -> tuple[float, float]:
    """End-to-end lag of probe rows written among `rate` rows/s; returns (p50, p99) in seconds."""
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    stop = threading.Event()

    def poll_destination() -> None:
        connection = dst.root_connect()
        seen = first_id - 1
        while not stop.is_set() or len(arrived) < len(sent):
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM bench.probes WHERE id > %s", (seen,))
                now = time.time()
                for (probe_id,) in cursor.fetchall():
                    arrived[probe_id] = now
                    seen = max(seen, probe_id)
            time.sleep(0.005)
        connection.close()

    poller = threading.Thread(target=poll_destination, daemon=True)
    poller.start()
    connection = src.root_connect()
    start = time.monotonic()
    row_id = first_id
    with connection.cursor() as cursor:
        while time.monotonic() - start < seconds:
            due = start + (row_id - first_id) / rate
            time.sleep(max(0.0, due - time.monotonic()))
            if (row_id - first_id) % 20 == 0:
                sent[row_id] = time.time()
                cursor.execute("INSERT INTO bench.probes VALUES (%s, %s, 'probe')", (row_id, sent[row_id]))
            else:
                cursor.execute("INSERT INTO bench.orders VALUES (%s, 1, 2.5, 'paced', NOW(6))", (row_id,))
            row_id += 1
    connection.close()
    stop.set()
    poller.join(timeout=120)
    lags = sorted(arrived[i] - sent[i] for i in sent if i in arrived)
    if len(lags) < len(sent):
        raise RuntimeError(f"{len(sent) - len(lags)} probe rows never arrived")
    return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))]


class AgentMemory(threading.Thread):
    """Samples the resident memory of the task's agent and its child processes, summed; keeps the
    peak. Also the peak of their proportional sets: the reader process is forked from the agent,
    so pages they still share count in both resident sets, once in the proportional sum."""

    def __init__(self, workspace: Path) -> None:
        super().__init__(daemon=True)
        self.pid_file = workspace / ".dtsctl" / "tasks" / "task.bench" / "agent.pid"
        self.peak_mb = 0.0
        self.peak_proportional_mb = 0.0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            try:
                pids = agent_processes(int(self.pid_file.read_text()))
                total = sum(resident_kb(pid) for pid in pids)
                proportional = sum(proportional_kb(pid) for pid in pids)
            except (OSError, ValueError):
                continue
            self.peak_mb = max(self.peak_mb, total / 1024)
            self.peak_proportional_mb = max(self.peak_proportional_mb, proportional / 1024)


def agent_processes(pid: int) -> list[int]:
    """`pid` and its children (the agent's reader process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def proportional_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def record_agent_tree(workspace: Path, output: Path) -> subprocess.Popen:
    """py-spy sampling the task's agent and its reader process until interrupted."""
    pid_file = workspace / ".dtsctl" / "tasks" / "task.bench" / "agent.pid"
    wait_until(lambda: Path(f"/proc/{pid_file.read_text().strip()}/task").exists(), timeout=60)
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(py_spy), "record", "--subprocesses", "--threads", "--idle", "--rate", "200",
                             "--format", "raw", "--output", str(output), "--pid", pid_file.read_text().strip()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


NATIVE = "native replica"  # the goals' baseline: it logs what it applies, as dtsctl's destination does
NATIVE_UNLOGGED = "native replica, applied rows not logged"  # MariaDB's default replica
DESTINATION_OPTIONS = {NATIVE: ("--log-slave-updates=ON",), NATIVE_UNLOGGED: (), "dtsctl": ()}


def incremental(root: Path, changes: int, rate: int, seconds: float, profile: Path | None = None,
                profile_grouped: bool = False) -> dict[str, tuple[Any, ...]]:
    """Per side of DESTINATION_OPTIONS: (single-row `CatchUp`, 10-row `CatchUp`, lag p50, lag p99,
    agent peak MB (resident, proportional)); the lag is measured for the goals' baseline and dtsctl."""
    results = {}
    for name, destination_options in DESTINATION_OPTIONS.items():
        src, dst = server(10), server(11, *destination_options)
        try:
            native = name != "dtsctl"
            if native:
                start_native_replica(src, dst)  # from the start of the fresh source's binlog: the DDL replicates
                prepare_stream_source(src)
                wait_until(lambda: rows_in(dst, "probes") == 0, timeout=60)
            else:
                prepare_stream_source(src)
                workspace = workspace_for(root, "stream", src, dst, "synchronization", "[schema, full, incremental]")
                dtsctl(workspace, "apply", "--auto-approve")
                wait_until(lambda: task_status(workspace)["phase"] == "incremental", timeout=120)
            memory = None if native else AgentMemory(workspace)
            profiler: list[subprocess.Popen] = []

            def pause(first_id: int, rows_per_transaction: int) -> Callable[[], None]:
                def stop() -> None:
                    if native:
                        dst.execute("STOP SLAVE")
                    else:
                        set_status(workspace, "paused")
                    write_backlog(src, first_id, changes, rows_per_transaction)
                return stop

            def resume(profiled: bool) -> Callable[[], None]:
                def start() -> None:
                    if native:
                        dst.execute("START SLAVE")
                        return
                    set_status(workspace, "running")
                    if memory is not None and not memory.is_alive():
                        memory.start()
                    if profile is not None and profiled:
                        profiler.append(record_agent_tree(workspace, profile))
                return start

            def stop_profiler() -> None:
                for running in profiler:
                    running.send_signal(signal.SIGINT)
                    running.wait(timeout=60)
                profiler.clear()

            agent_cpu = None if native else AgentCpu(workspace)
            single = catch_up_rate(src, dst, changes, pause(1, 1), resume(not profile_grouped), agent_cpu)
            stop_profiler()
            grouped = catch_up_rate(src, dst, changes, pause(changes + 1, 10), resume(profile_grouped),
                                    agent_cpu, marker=-2)
            stop_profiler()
            p50, p99 = (None, None) if name == NATIVE_UNLOGGED else paced_lag(src, dst, 2 * changes + 1, rate, seconds)
            peak = (0.0, 0.0)
            if memory is not None:
                memory.halt.set()
                memory.join()
                peak = (memory.peak_mb, memory.peak_proportional_mb)
            results[name] = (single, grouped, p50, p99, peak)
            if name == "dtsctl":
                dtsctl(workspace, "destroy", "--auto-approve")
        finally:
            src.close()
            dst.close()
    return results


def catch_up_cpu(used: tuple[float, ...]) -> str:
    source, destination, applier, reader = used
    agent = f"agent {applier + reader:.1f}" + (f" (applier {applier:.1f}, reader {reader:.1f})" if reader else "")
    return f"source {source:.1f} + destination {destination:.1f} + {agent} = {sum(used):.1f}"


def cpu_line(used: tuple[float, ...]) -> str:
    source, destination, clients = used
    return (f"CPU s: source {source:.1f} + destination {destination:.1f} + clients {clients:.1f} "
            f"= {source + destination + clients:.1f}")


class Cluster:
    """A private etcd member and one `dtsctl node run` for `--runtime etcd`."""

    def __init__(self, root: Path) -> None:
        from tests.servers.etcd import EtcdCluster

        self.etcd = EtcdCluster(1).start()
        env = {**os.environ, "DTSCTL_SECRET_SRC_PASSWORD": "", "DTSCTL_SECRET_DST_PASSWORD": ""}
        self.node = subprocess.Popen([*DTSCTL, "-C", str(root), "node", "run", "--name", "bench", "--slots", "2",
                                      "--endpoints", self.etcd.endpoints[0], "--prefix", "/bench"],
                                     stdout=subprocess.DEVNULL, stderr=open(root / "node.log", "ab"), env=env)
        RUNTIME["declaration"] = (f"workspace:\n  runtime: {{backend: etcd, endpoints: [\"{self.etcd.endpoints[0]}\"], "
                                  "prefix: /bench}\n")

    def close(self) -> None:
        self.node.send_signal(signal.SIGTERM)
        self.node.wait(timeout=60)
        self.etcd.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--changes", type=int)
    parser.add_argument("--paced-rate", type=int, default=5000)
    parser.add_argument("--paced-seconds", type=float)
    parser.add_argument("--quick", action="store_true", help="a smaller run that finishes in a few minutes")
    parser.add_argument("--full-only", action="store_true", help="only the full-copy measure")
    parser.add_argument("--incremental-only", action="store_true", help="only the incremental measures")
    parser.add_argument("--profile", type=Path, help="py-spy the agent into this file (see above)")
    parser.add_argument("--profile-grouped", action="store_true",
                        help="with --incremental-only, profile the catch-up of 10-row transactions instead")
    parser.add_argument("--runtime", choices=["local", "etcd"], default="local", help="where dtsctl's agents run")
    args = parser.parse_args()
    if args.profile and args.runtime == "etcd":
        parser.error("--profile records a local agent; leave out --runtime etcd")
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    args.rows = args.rows or sizes["rows"]
    args.changes = args.changes or sizes["changes"]
    args.paced_seconds = args.paced_seconds or sizes["paced_seconds"]
    root = Path(tempfile.mkdtemp(prefix="dtsctl-bench-"))
    cluster = Cluster(root) if args.runtime == "etcd" else None
    copy: tuple[tuple[float, tuple[float, ...]], tuple[float, tuple[float, ...], float]] | None = None
    try:
        if not args.incremental_only:
            copy = full_copy(root, args.rows, args.profile)
        stream = {} if args.full_only else incremental(root, args.changes, args.paced_rate, args.paced_seconds,
                                                       args.profile if args.incremental_only else None,
                                                       args.profile_grouped)
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; runtime {args.runtime}; rows={args.rows} changes={args.changes} "
          f"paced={args.paced_rate} rows/s for {args.paced_seconds:g}s")
    if copy is not None:
        (dump_rate, dump_cpu), (copy_rate, copy_cpu, copy_rss) = copy
        print(f"full copy      mariadb-dump | mariadb   {dump_rate:12,.0f} rows/s  {cpu_line(dump_cpu)}")
        print(f"full copy      dtsctl migration         {copy_rate:12,.0f} rows/s  {cpu_line(copy_cpu)}; "
              f"{copy_rate / dump_rate:.2f}× the baseline; agent peak RSS {copy_rss:.0f} MB")
    if stream:
        native_single, native_grouped, native_p50, native_p99, _ = stream[NATIVE]
        unlogged_single, unlogged_grouped, *_ = stream[NATIVE_UNLOGGED]
        single, grouped, p50, p99, peak = stream["dtsctl"]
        print("native replica: writes what it applies to its binlog (log_slave_updates), as dtsctl's destination does")
        for label, native, unlogged, ours in (("single-row txns", native_single, unlogged_single, single),
                                              ("10-row txns    ", native_grouped, unlogged_grouped, grouped)):
            print(f"catch-up, {label}   native replica {native.rate:10,.0f} rows/s   dtsctl {ours.rate:10,.0f} rows/s"
                  f"   {ours.rate / native.rate:.2f}×")
            print(f"    once rows arrive: native {native.streaming_rate:,.0f} rows/s (first after {native.first_row:.2f} s); "
                  f"dtsctl {ours.streaming_rate:,.0f} rows/s (first after {ours.first_row:.2f} s)   "
                  f"{ours.streaming_rate / native.streaming_rate:.2f}×")
            print(f"    CPU s: native {catch_up_cpu(native.cpu)}; dtsctl {catch_up_cpu(ours.cpu)}")
            print(f"    MariaDB's default replica (applied rows not logged): {unlogged.rate:,.0f} rows/s   "
                  f"{ours.rate / unlogged.rate:.2f}×; once rows arrive {unlogged.streaming_rate:,.0f} rows/s "
                  f"(first after {unlogged.first_row:.2f} s)   {ours.streaming_rate / unlogged.streaming_rate:.2f}×; "
                  f"CPU s: {catch_up_cpu(unlogged.cpu)}")
        print(f"lag at {args.paced_rate} rows/s         native replica p50 {native_p50 * 1000:.0f} ms, p99 "
              f"{native_p99 * 1000:.0f} ms   dtsctl p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        print(f"agent resident memory       dtsctl peak {peak[0]:.0f} MB (its processes summed; "
              f"{peak[1]:.0f} MB proportional, the pages they share counted once)")
    return 0


def full_copy(root: Path, rows: int, profile: Path | None
              ) -> tuple[tuple[float, tuple[float, ...]], tuple[float, tuple[float, ...], float]]:
    """Measure 1: the baseline's (rows/s, CPU seconds) and dtsctl's (rows/s, CPU seconds, peak MB)."""
    src = server(1)
    try:
        seed(src, rows)
        baseline_dst, dtsctl_dst = server(2), server(3)
        try:
            return full_copy_baseline(src, baseline_dst, rows), full_copy_dtsctl(root, src, dtsctl_dst, rows, profile)
        finally:
            baseline_dst.close()
            dtsctl_dst.close()
    finally:
        src.close()


if __name__ == "__main__":
    sys.exit(main())
