"""How `dtsctl validate` and `dtsctl plan` scale with the number of tasks in a workspace.

    .venv/bin/python bench/plan_bench.py [--quick] [--sizes 250,500,1000,2000] [--repeat N] [--keep DIR]

For each size it writes one `main.dts.yaml` of SQLite endpoints (the files need
not exist: neither command opens them) with a mix of tasks: synchronization
tasks that share a few warehouse destinations (each writing its own tables),
migrations of whole databases, subscriptions with consumer groups, and one-way,
one-to-many and cascade topologies. It then runs each command as a fresh
process in an initialised, empty workspace and prints its seconds (wall), CPU
seconds (user + system: steadier than wall on a busy machine) and peak
resident memory (MB); with `--repeat N`, the best of N runs (a busy machine
only ever adds time). `--quick` runs 250 and 500 only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DTSCTL = [sys.executable, "-m", "dtsctl"]
WAREHOUSES = 2
TOPOLOGY_EVERY = 50  # one topology of each kind per this many tasks


def _task_lines(index: int) -> list[str]:
    """One plain task of the mix: 6 in 10 synchronization, 2 migration, 2 subscription."""
    kind = index % 10
    name = f"t{index:05d}"
    if kind < 6:
        warehouse = f"warehouse{index % WAREHOUSES}"
        return [
            f"  {name}:",
            "    type: synchronization",
            f"    source: src{index}",
            f"    destination: {warehouse}",
            "    objects:",
            "      - database: main",
            "        tables: [orders, items, customers]",
            f"        table_rename: {{orders: orders_{index}, items: items_{index}, customers: customers_{index}}}",
            f"        filter: {{orders: \"amount > {index % 100}\"}}",
        ]
    if kind < 8:
        return [
            f"  {name}:",
            "    type: migration",
            f"    source: src{index}",
            f"    destination: copy{index}",
            "    objects: [{database: main, all: true}]",
        ]
    return [
        f"  {name}:",
        "    type: subscription",
        f"    source: src{index}",
        "    objects: [{database: main, tables: [orders]}]",
        "    consumer_groups: [cache, analytics]",
    ]


def declaration(tasks: int) -> str:
    """A workspace of about `tasks` tasks: plain tasks plus topologies (each topology counts its tasks)."""
    endpoints = [f"  warehouse{w}: {{engine: sqlite, path: ./warehouse{w}.db}}" for w in range(WAREHOUSES)]
    topologies: list[str] = []
    topology_tasks = 0
    for group in range(tasks // TOPOLOGY_EVERY):
        fan = [f"fan{group}_{d}" for d in range(4)]  # source + 3 destinations: 3 tasks
        chain = [f"chain{group}_{d}" for d in range(4)]  # 3 links: 3 tasks
        pair = [f"pair{group}_{d}" for d in range(2)]  # 1 task
        for name in fan + chain + pair:
            endpoints.append(f"  {name}: {{engine: sqlite, path: ./{name}.db}}")
        topologies += [
            f"  fan{group}:", "    type: one-to-many", f"    endpoints: [{', '.join(fan)}]",
            "    objects: [{database: main, all: true}]",
            f"  chain{group}:", "    type: cascade", f"    endpoints: [{', '.join(chain)}]",
            "    objects: [{database: main, tables: [events]}]",
            f"  oneway{group}:", "    type: one-way", f"    endpoints: [{', '.join(pair)}]",
            "    objects: [{database: main, all: true}]",
        ]
        topology_tasks += 7
    task_lines: list[str] = []
    for index in range(tasks - topology_tasks):
        endpoints.append(f"  src{index}: {{engine: sqlite, path: ./src{index}.db}}")
        if index % 10 in (6, 7):
            endpoints.append(f"  copy{index}: {{engine: sqlite, path: ./copy{index}.db}}")
        task_lines += _task_lines(index)
    return "\n".join(["endpoints:", *endpoints, "", "tasks:", *task_lines, "", "topologies:", *topologies, ""])


def run(workspace: Path, *args: str) -> tuple[float, float, float]:
    """Seconds (wall), CPU seconds and peak RSS (MB) of one dtsctl process; fails loudly if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen([*DTSCTL, "-C", str(workspace), *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"dtsctl {' '.join(args)} failed ({process.returncode}): {stderr.strip()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="250 and 500 tasks only")
    parser.add_argument("--sizes", default="250,500,1000,2000", help="comma-separated task counts")
    parser.add_argument("--repeat", type=int, default=1, help="run each command N times and keep the best")
    parser.add_argument("--keep", type=Path, help="write the workspaces here and keep them")
    options = parser.parse_args()
    sizes = [250, 500] if options.quick else [int(size) for size in options.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as scratch:
        base = options.keep or Path(scratch)
        print(f"{'tasks':>6} {'command':<9} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}")
        for size in sizes:
            workspace = base / f"tasks-{size}"
            workspace.mkdir(parents=True, exist_ok=True)
            (workspace / "main.dts.yaml").write_text(declaration(size))
            run(workspace, "init")
            for command in (["validate"], ["plan"]):
                runs = [run(workspace, *command) for _ in range(options.repeat)]
                seconds, cpu, peak = (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs))
                print(f"{size:>6} {command[0]:<9} {seconds:>8.2f} {cpu:>8.2f} {peak:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
