"""Consumer failover (kill -9 of the active consumer) and an agent killed while consumers read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dtsctl.subscribe import Subscriber
from tests.integration.subscribe.conftest import wait_for

ROOT = Path(__file__).resolve().parents[3]


def _seqs(path: Path) -> list[int]:
    return [int(line.split()[0]) for line in path.read_text().splitlines()] if path.exists() else []


def _holder_pid(task) -> int | None:
    holder = task.describe()["groups"][0]["holder"]
    return int(holder.split(":")[1]) if holder else None


def test_three_consumers_of_a_group_one_killed_another_takes_over_nothing_lost_or_skipped(
        make_task, sqlite_source, tmp_path):
    task = make_task({"g": {"start": "earliest"}})
    task.apply()
    outputs = [tmp_path / f"consumer{i}.txt" for i in range(3)]
    consumers = {}
    for out in outputs:
        process = subprocess.Popen([sys.executable, "-m", "tests.integration.subscribe.consumer", str(task.store),
                                    "g", str(out), "1.5"], cwd=ROOT)
        consumers[process.pid] = (process, out)
    writing = threading.Event()
    writing.set()

    def write() -> None:
        i = 0
        while writing.is_set():
            i += 1
            sqlite_source.execute(f"INSERT INTO orders (id) VALUES ({i})")
            time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        first = wait_for(lambda: _holder_pid(task), what="an active consumer")
        wait_for(lambda: len(_seqs(consumers[first][1])) > 20, what="the first consumer to read")
        os.kill(first, signal.SIGKILL)
        consumers[first][0].wait()
        killed_at = time.monotonic()
        second = wait_for(lambda: (pid := _holder_pid(task)) not in (None, first) and pid, what="a takeover")
        assert time.monotonic() - killed_at < 5
        wait_for(lambda: len(_seqs(consumers[second][1])) > 20, what="the new consumer to read")
    finally:
        writing.clear()
        writer.join()
    task.wait_status(lambda s: s.get("lag_seconds") == 0.0, "recording to catch up")
    last = task.describe()["retained"]["last_seq"]
    wait_for(lambda: task.describe()["groups"][0]["offset"] >= last, what="the group to catch up")
    for process, _ in consumers.values():
        process.kill()
        process.wait()
    seen = [seq for out in outputs for seq in _seqs(out)]
    assert set(seen) >= set(range(1, last + 1))  # none skipped, none lost
    for out in outputs:
        assert _seqs(out) == sorted(_seqs(out))  # each consumer read in order
    assert len(seen) - len(set(seen)) <= 2 * 200  # duplicates only around the takeover (at-least-once)


def test_agent_killed_while_a_consumer_reads_loses_and_reorders_nothing(make_task, sqlite_source):
    task = make_task({"g": {"start": "earliest"}})
    task.apply()
    ids: list[int] = []
    stop = threading.Event()

    def consume() -> None:
        with Subscriber(task.dir, None, "g") as subscriber:
            while not stop.is_set():
                for record in subscriber.poll(timeout=0.2):
                    if record.op == "insert":
                        ids.append(record.after["id"])
                    record.commit()

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        for i in range(1, 301):
            sqlite_source.execute(f"INSERT INTO orders (id) VALUES ({i})")
            if i in (100, 200):
                task.kill()
                task.start()
        wait_for(lambda: len(ids) >= 300, what="every insert to be read")
    finally:
        stop.set()
        reader.join()
    assert ids == list(range(1, 301))
