"""Operating dtsctl: the supervisor's Prometheus endpoint during real SQLite and MariaDB tasks."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import Workspace, execute, wait_for
from tests.e2e.test_mysql_cli import endpoint, seed_shop
from tests.e2e.test_sqlite_lifecycle import seed
from tests.servers.ports import free_port

pytestmark = pytest.mark.e2e


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} of one scrape, parsed by prometheus_client's own parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float | None:
    wanted = set(labels.items())
    found = [v for (sample, have), v in samples.items() if sample == name and wanted <= have]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def quiet_status(workspace: Workspace, address: str) -> dict[str, Any]:
    """The task's status once two reads a second apart agree (nothing moving)."""
    def settled() -> dict[str, Any] | None:
        first = workspace.status(address)
        second = workspace.status(address)
        keys = ("rows_copied", "events_applied", "events_read", "state", "phase", "lag_seconds")
        return second if all(first[k] == second[k] for k in keys) else None

    return wait_for(settled, timeout=60, interval=1, what=f"{address} to settle")


def test_metrics_match_status_for_a_sqlite_and_a_mariadb_task(workspace: Workspace, mariadb_source,
                                                            fresh_database) -> None:
    src_db = fresh_database(mariadb_source)
    seed_shop(mariadb_source, src_db, orders=300)
    seed(workspace.root / "shop.db")
    port = free_port()
    workspace.write("main.dts.yaml", f"""
        workspace:
          metrics: {{address: "127.0.0.1:{port}"}}
        endpoints:
          maria: {endpoint(mariadb_source)}
          shop: {{engine: sqlite, path: ./shop.db}}
          replica: {{engine: sqlite, path: ./replica.db}}
          lake: {{engine: sqlite, path: ./lake.db}}
        tasks:
          lite:
            type: synchronization
            source: shop
            destination: replica
            objects: [{{database: main, tables: [orders, customers]}}]
          maria:
            type: synchronization
            source: maria
            destination: lake
            objects: [{{database: {src_db}, tables: [orders], rename: main}}]
        """)
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.lite", "--timeout", "120")
    workspace.run("wait", "task.maria", "--timeout", "120")
    execute(workspace.root / "shop.db", *(f"UPDATE orders SET note = 'n{i}' WHERE id = {i}" for i in range(1, 21)))
    mariadb_source.execute(f"UPDATE `{src_db}`.orders SET note = 'changed' WHERE id <= 7")
    wait_for(lambda: workspace.status("task.lite")["events_applied"] >= 20
             and workspace.status("task.maria")["events_applied"] >= 7, timeout=60, what="the changes to apply")

    for address, source_engine in (("task.lite", "sqlite"), ("task.maria", "mysql")):
        status = quiet_status(workspace, address)
        samples = wait_for(lambda: scrape(port), timeout=10, what="the metrics endpoint")
        labels = {"address": address, "type": "synchronization", "source_engine": source_engine,
                  "destination_engine": "sqlite"}
        assert value(samples, "dtsctl_task_up", **labels) == 1
        assert value(samples, "dtsctl_task_state", **labels, state="running") == 1
        assert value(samples, "dtsctl_task_state", **labels, state="failed") == 0
        assert value(samples, "dtsctl_task_phase", **labels, phase="incremental") == 1
        assert value(samples, "dtsctl_task_lag_seconds", **labels) == status["lag_seconds"]
        assert value(samples, "dtsctl_task_rows_copied_total", **labels) == status["rows_copied"]
        assert value(samples, "dtsctl_task_events_applied_total", **labels) == status["events_applied"]
        assert value(samples, "dtsctl_task_events_read_total", **labels) == status["events_read"] > 0
        assert value(samples, "dtsctl_task_restarts_total", **labels) == status["restarts"] == 0
        assert value(samples, "dtsctl_task_error", **labels) == 0
        for operation, count in status["conflicts"].items():
            assert value(samples, "dtsctl_task_conflicts_total", **labels, operation=operation) == count
        for table, progress in status["tables"].items():
            assert value(samples, "dtsctl_table_rows_copied", **labels, table=table) == progress["rows_copied"]
            assert value(samples, "dtsctl_table_copy_done", **labels, table=table) == 1
    assert value(samples, "dtsctl_table_rows_copied", address="task.maria", table=f"{src_db}.orders") == 300


def test_lag_alert_is_posted_to_a_webhook_from_a_sensitive_variable_and_resolves(workspace: Workspace) -> None:
    from tests.unit.runtime.test_alerts import Receiver

    receiver = Receiver(failures=1)
    try:
        execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
                *(f"INSERT INTO orders VALUES ({i}, NULL)" for i in range(1, 31)))
        workspace.write("main.dts.yaml", """
            variables:
              hook: {sensitive: true}
            endpoints:
              shop: {engine: sqlite, path: ./shop.db}
              replica: {engine: sqlite, path: ./replica.db}
            tasks:
              slow:
                type: synchronization
                source: shop
                destination: replica
                objects: [{database: main, tables: [orders]}]
                throttle: {rps: 100, windows: [{from: "00:00", to: "12:00", rps: 2}, {from: "12:00", to: "00:00", rps: 2}]}
                alerts: {webhook: "${ var.hook }", lag_seconds: 1, for_seconds: 1}
            """)
        hook = {"DTS_VAR_hook": receiver.url}
        plan = workspace.run("plan", env=hook).stdout
        assert "webhook = (sensitive value)" in plan and "s3cret" not in plan
        workspace.run("apply", "--auto-approve", env=hook)
        workspace.run("wait", "task.slow", "--timeout", "120")
        window = "00:00-12:00" if time.gmtime().tm_hour < 12 else "12:00-00:00"
        assert workspace.status("task.slow")["throttle"] == {"rps": 2.0, "mbps": 0.0, "window": window}
        assert f"throttle: 2 rows/s (window {window})" in workspace.run("status", "task.slow").stdout
        # Lag is the commit-time spread between the newest change read and the newest applied: 30
        # changes over 3 s or more, applied at 2 a second, keep the applier behind the reader from
        # the first change to the last (however slowly a loaded machine makes the writes), so the
        # lag rises over 1 s once and falls back once.
        for i in range(1, 31):
            execute(workspace.root / "shop.db", f"UPDATE orders SET note = 'n{i}' WHERE id = {i}")
            time.sleep(0.1)
        wait_for(lambda: [e["status"] for e in receiver.events if e["kind"] == "lag"] == ["firing", "resolved"],
                 timeout=90, what="the lag alert to fire and resolve")
        fired, resolved = receiver.events
        assert fired["task"] == "task.slow" and fired["threshold"] == 1 and fired["value"] > 1
        assert resolved["first_seen"] == fired["first_seen"] and resolved["resolved"]
        assert receiver.attempts == 3  # the first post was refused and retried
        state = (workspace.root / "state" / "dtsctl.state.json").read_text()
        logs = (workspace.runtime / "supervisor.log").read_text()
        assert "s3cret" not in state and "s3cret" not in logs and "lag alert firing" in logs
    finally:
        receiver.server.shutdown()


def test_scheduled_migration_copies_each_window_never_overlapping_runs(workspace: Workspace) -> None:
    import datetime
    import sqlite3

    execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL)")
    port = free_port()
    workspace.write("main.dts.yaml", f"""
        workspace:
          metrics: {{address: "127.0.0.1:{port}"}}
        endpoints:
          shop: {{engine: sqlite, path: ./shop.db}}
          warehouse: {{engine: sqlite, path: ./warehouse.db}}
        tasks:
          nightly:
            type: migration
            source: shop
            destination: warehouse
            phases: [schema, full]
            objects:
              - database: main
                tables: [orders]
                filter: {{orders: "created_at >= '${{ run.window_start }}' AND created_at < '${{ run.window_end }}'"}}
            schedule: {{cron: "* * * * * */3"}}
            throttle: {{rps: 40}}
        """)
    plan = workspace.run("plan").stdout
    assert "# task.nightly runs next at " in plan
    workspace.run("apply", "--auto-approve")
    # orders of the next 12 seconds, 50 a second: each 3-second window holds more than a run copies in 3 seconds
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    stamps = [(start + datetime.timedelta(seconds=i * 0.02)).strftime("%Y-%m-%d %H:%M:%S") for i in range(600)]
    execute(workspace.root / "shop.db", *(f"INSERT INTO orders VALUES ({i}, '{stamp}')" for i, stamp in enumerate(stamps)))

    def copied_everything() -> dict[str, Any] | None:
        schedule = workspace.status("task.nightly")["schedule"]
        done = [run for run in schedule["runs"] if run["result"] == "completed"]
        return schedule if done and done[-1]["window_end"] > stamps[-1] else None

    schedule = wait_for(copied_everything, timeout=120, interval=1, what="a run past the last row")
    with sqlite3.connect(workspace.root / "warehouse.db") as warehouse:
        assert warehouse.execute("SELECT count(*) FROM orders").fetchone()[0] == 600
    runs = schedule["runs"]
    completed = [run for run in runs if run["result"] == "completed"]
    assert sum(run["rows"] for run in completed) == 600
    for earlier, later in zip(completed, completed[1:]):
        assert later["window_start"] == earlier["window_end"]  # contiguous windows
    started = [run for run in runs if run["started_at"] is not None]
    for earlier, later in zip(started, started[1:]):
        assert earlier["ended_at"] <= later["started_at"]  # never overlapping
    skipped = [run for run in runs if run["result"] == "skipped"]
    assert skipped and "was still going" in skipped[0]["reason"]
    samples = scrape(port)
    labels = {"address": "task.nightly"}
    results = workspace.status("task.nightly")["schedule"]["results"]
    assert value(samples, "dtsctl_schedule_runs_total", **labels, result="skipped") >= len(skipped)
    assert value(samples, "dtsctl_schedule_runs_total", **labels, result="completed") <= results["completed"]
    assert value(samples, "dtsctl_schedule_next_run_timestamp_seconds", **labels) > time.time() - 5
