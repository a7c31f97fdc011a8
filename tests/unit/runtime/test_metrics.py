"""The metrics collector over hand-written runtime files, and what it costs the CLI to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dtsctl.jsonfile import write_json_atomic
from dtsctl.runtime.agents import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.metrics import METRICS, RateMeter, WorkspaceCollector


def scrape(runtime: RuntimePaths) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkspaceCollector(runtime))
    text = generate_latest(registry).decode()
    return {sample.name + str(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_a_failed_task_reads_as_failed_with_its_error_and_restarts(tmp_path: Path) -> None:
    runtime = RuntimePaths(tmp_path)
    agent = Agent(runtime, "task.copy")
    agent.write_config("id", {"type": "migration", "source_endpoint": {"engine": "mysql"},
                              "destination_endpoint": {"engine": "sqlite"}}, [])
    agent.set_desired("running")
    write_json_atomic(agent.paths.status, {"state": "running", "phase": "full", "rows_copied": 5,
                                           "tables": {"shop.orders": {"rows_copied": 5, "rows_estimated": 9, "done": False}}})
    write_json_atomic(agent.paths.supervisor, {"failed": True, "reason": "kept failing", "restarts": 4})
    samples = scrape(runtime)
    labels = [("address", "task.copy"), ("destination_engine", "sqlite"), ("source_engine", "mysql"), ("type", "migration")]
    assert samples["dtsctl_task_state" + str(sorted(labels + [("state", "failed")]))] == 1
    assert samples["dtsctl_task_error" + str(labels)] == 1
    assert samples["dtsctl_task_restarts_total" + str(labels)] == 4
    assert samples["dtsctl_task_up" + str(labels)] == 0
    assert samples["dtsctl_table_rows_estimated" + str(sorted(labels + [("table", "shop.orders")]))] == 9
    assert not any(name.startswith("dtsctl_task_lag_seconds") for name in samples)  # null before incremental


def test_rates_come_from_the_last_minute_of_samples_and_survive_a_counter_reset() -> None:
    meter = RateMeter()
    assert meter.rate("t", 100.0, 0) == 0.0
    assert meter.rate("t", 110.0, 50) == 5.0
    assert meter.rate("t", 200.0, 950) == 10.0  # the sample at 100 is past the window
    assert meter.rate("t", 201.0, 3) == 0.0  # the agent restarted: its counter began again


def test_every_metric_is_named_with_its_unit_convention() -> None:
    for metric in METRICS:
        assert metric.name.startswith("dtsctl_")
        assert metric.name.endswith("_total") == (metric.kind == "counter"), metric.name


def test_the_cli_does_not_import_prometheus_client_or_croniter() -> None:
    code = ("import sys, dtsctl.cli.main, dtsctl.runtime.supervisor, dtsctl.config.model; "
            "print(sorted(m for m in ('prometheus_client', 'croniter') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
