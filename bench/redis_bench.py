"""Redis throughput of dtsctl against a native replica (REPLICAOF) of the same source, in one run.

    .venv/bin/python bench/redis_bench.py [--keys 1000000] [--requests 1000000]

Starts three private redis-servers (source, native replica, dtsctl destination).
Snapshot: the source holds --keys keys of mixed types; the native replica and
the dtsctl agent (in-process runner) each copy it; keys/s and MB/s of RDB.
Stream: redis-benchmark writes --requests commands (SET, LPUSH, HSET, SADD,
ZADD, INCR) to the source at --rate writes/s; lag is sampled every 20 ms with a
probe key written to the source with its time and read back from each
destination, and each side's catch-up time after the load is reported. `--burst`
offers the writes unthrottled (one redis-benchmark run, about 150,000 writes/s on
the 2-core machine) and reports each side's writes/s end to end and how long after
the burst ended it caught up.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from dtsctl.runtime import lifecycle


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(work: Path, name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    folder = work / name
    folder.mkdir()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder), "--repl-backlog-size", "256mb",
                                "--repl-diskless-sync-delay", "0"],
                               stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server {name} did not start")


def load(client: redis.Redis, keys: int) -> None:
    """Mixed types: 50% strings, 20% hashes, 10% lists, sets and sorted sets each."""
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        kind = i % 10
        if kind < 5:
            pipe.set(f"s:{i}", f"value-{i}-" + "x" * 20)
        elif kind < 7:
            pipe.hset(f"h:{i}", mapping={"a": i, "b": "bbbbbbbb", "c": "c" * 10})
        elif kind == 7:
            pipe.rpush(f"l:{i}", "one", "two", "three", i)
        elif kind == 8:
            pipe.sadd(f"t:{i}", "m1", "m2", i)
        else:
            pipe.zadd(f"z:{i}", {"a": 1, "b": 2, str(i): 3})
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def attributes(source_port: int, destination_port: int, fencing_token: int | None) -> dict[str, Any]:
    def endpoint(port: int) -> dict[str, Any]:
        return {"engine": "redis", "host": "127.0.0.1", "port": port, "user": None, "password": None,
                "path": None, "database": None, "cluster": False}
    return {
        "type": "synchronization", "source": "s", "destination": "d", "phases": ["full", "incremental"],
        "source_endpoint": endpoint(source_port), "destination_endpoint": endpoint(destination_port),
        "objects": [{"database": 0, "rename": None, "key_prefixes": None, "extend_ttl_seconds": None}],
        "conflict_policy": "overwrite", "throttle": {"rps": 0, "mbps": 0},
        "retry": {"connection_minutes": 1, "other_minutes": 1}, "status": "running", "lifecycle": {},
        "workspace": "/tmp",
        **({"fencing_token": fencing_token} if fencing_token is not None else {}),
    }


def dbsize_reaches(client: redis.Redis, keys: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while client.dbsize() < keys:
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


class LagProbe(threading.Thread):
    """Writes `bench:probe` = now on the source; samples now - value read back on each destination."""

    def __init__(self, source: redis.Redis, destinations: dict[str, redis.Redis]) -> None:
        super().__init__(daemon=True)
        self.source, self.destinations = source, destinations
        self.samples: dict[str, list[float]] = {name: [] for name in destinations}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.source.set("bench:probe", repr(time.time()))
            self.halt.wait(0.02)
            for name, client in self.destinations.items():
                value = client.get("bench:probe")
                if value is not None:
                    self.samples[name].append(max(0.0, time.time() - float(value) - 0.02))


TESTS = "set,lpush,hset,sadd,zadd,incr"
SLICE_SECONDS = 0.1


def offer_load(port: int, requests: int, rate: int) -> None:
    """redis-benchmark (which has no rate limit of its own) in 100 ms slices of rate/10 writes;
    all at once when `rate` is 0."""
    per_slice = max(6, rate // 10) if rate else requests
    deadline = time.perf_counter()
    for _ in range(max(1, requests // per_slice)):
        subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(per_slice // 6), "-r", "100000", "-P", "16",
                        "-c", "4", "-q", "-t", TESTS], check=True, stdout=subprocess.DEVNULL)
        deadline += SLICE_SECONDS
        time.sleep(max(0.0, deadline - time.perf_counter()))


def agent_cpu() -> float:
    """CPU seconds of this process (the agent's threads), of its children that ended, and of its
    Python descendants still running (the agent's reader process); the redis-servers are not counted."""
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        values = fields.split()
        pid = int(stat.parent.name)
        parents[pid] = int(values[1])
        if "python" in name:
            times[pid] = (int(values[11]) + int(values[12])) / ticks
    running = 0.0
    for pid, seconds in times.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != os.getpid():
            ancestor = parents.get(ancestor)
        running += seconds if ancestor == os.getpid() else 0.0
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime + running


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=50_000, help="writes/s offered to the source")
    parser.add_argument("--quick", action="store_true", help="200,000 keys and 200,000 writes (under 5 minutes)")
    parser.add_argument("--snapshot-only", action="store_true", help="stop after the snapshot")
    parser.add_argument("--burst", action="store_true", help="offer the writes unthrottled")
    parser.add_argument("--fencing-token", type=int, default=None,
                        help="run as the cluster runtime's owner with this token (a fenced destination)")
    args = parser.parse_args()
    if args.burst:
        args.rate = 0
    if args.quick:
        args.keys, args.requests = 200_000, 200_000
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        servers = [start_server(work, name) for name in ("source", "replica", "dtsctl")]
        (_, source_port), (_, replica_port), (_, dtsctl_port) = servers
        source, replica, dest = (redis.Redis(port=port) for _, port in servers)
        try:
            load(source, args.keys)
            rdb_started = time.perf_counter()
            source.bgsave()
            while source.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.05)
            rdb_bytes = (work / "source" / "dump.rdb").stat().st_size
            print(f"source: {args.keys} keys, RDB {rdb_bytes / 1e6:.1f} MB (saved in {time.perf_counter() - rdb_started:.1f}s)")

            started = time.perf_counter()
            replica.replicaof("127.0.0.1", source_port)
            while replica.info("replication").get("master_link_status") != "up" or \
                    replica.info("replication").get("master_sync_in_progress"):
                time.sleep(0.02)
            native = time.perf_counter() - started

            stop = threading.Event()
            pipeline = lifecycle.pipeline_for(attributes(source_port, dtsctl_port, args.fencing_token),
                                              str(uuid.uuid4()))
            progress = pipeline.progress()
            runner = pipeline.runner(work / "changelog.db", progress, stop, lambda: None)
            started, cpu_started = time.perf_counter(), agent_cpu()
            thread = threading.Thread(target=runner.run, daemon=True)
            thread.start()
            while progress.snapshot()["phase"] != "incremental":
                if not thread.is_alive():
                    raise RuntimeError("the runner ended early")
                time.sleep(0.05)
            ours, cpu = time.perf_counter() - started, agent_cpu() - cpu_started
            for name, seconds in (("native replica", native), ("dtsctl", ours)):
                print(f"snapshot {name}: {seconds:.1f}s, {args.keys / seconds:,.0f} keys/s, "
                      f"{rdb_bytes / 1e6 / seconds:.1f} MB/s")
            print(f"snapshot ratio: {native / ours:.2f}x the native replica's keys/s; dtsctl used "
                  f"{cpu / args.keys * 1e6:.1f} µs of CPU per key (its processes, every thread)")
            if args.snapshot_only:
                stop.set()
                thread.join(timeout=30)
                return

            probe = LagProbe(redis.Redis(port=source_port), {"native replica": redis.Redis(port=replica_port),
                                                             "dtsctl": redis.Redis(port=dtsctl_port)})
            probe.start()
            applied_before = progress.snapshot()["events_applied"]
            started = time.perf_counter()
            offer_load(source_port, args.requests, args.rate)
            load_seconds = time.perf_counter() - started
            marker = str(uuid.uuid4())
            source.set("bench:done", marker)  # applied in order: once it is there, everything before is
            finished = {}
            while len(finished) < 2:
                for name, client in (("native replica", replica), ("dtsctl", dest)):
                    if name not in finished and client.get("bench:done") == marker.encode():
                        finished[name] = time.perf_counter() - started
                time.sleep(0.005)
            probe.halt.set()
            probe.join()
            applied = progress.snapshot()["events_applied"] - applied_before
            stop.set()
            thread.join(timeout=30)
            print(f"load: {args.requests} writes by redis-benchmark in {load_seconds:.1f}s "
                  f"({args.requests / load_seconds:,.0f} writes/s offered)")
            for name, seconds in finished.items():
                lags = probe.samples[name]
                print(f"stream {name}: caught up {seconds:.2f}s after the load began, "
                      f"{max(0.0, seconds - load_seconds):.2f}s after it ended "
                      f"({args.requests / seconds:,.0f} writes/s end to end; dtsctl applied {applied} "
                      f"commands that changed data), lag p50 {percentile(lags, 0.5) * 1000:.0f} ms, "
                      f"p99 {percentile(lags, 0.99) * 1000:.0f} ms")
            print(f"stream ratio: {finished['native replica'] / finished['dtsctl']:.2f}x the native replica's "
                  "writes/s end to end")
        finally:
            for process, _ in servers:
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()
