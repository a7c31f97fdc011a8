"""The shipped dashboard and alert rules: valid for promtool, and naming only metrics that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dtsctl.engine.subscription.spec import sync_groups
from dtsctl.jsonfile import write_json_atomic
from dtsctl.runtime.agents import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.metrics import WorkspaceCollector
from dtsctl.runtime.runs import RunBook

MONITORING = Path(__file__).resolve().parents[3] / "examples" / "monitoring"
METRIC_NAME = re.compile(r"\bdtsctl_[a-z_]+\b")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package (scripts/install-servers.sh "
                    "does, as root) to check examples/monitoring/alerts.yml", pytrace=False)
    return found


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(MONITORING / "alerts.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_prometheus_config_passes_promtool() -> None:
    result = subprocess.run([promtool(), "check", "config", str(MONITORING / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def exporter_output(tmp_path: Path) -> set[str]:
    """Sample names the exporter emits for a workspace holding one task of each kind."""
    runtime = RuntimePaths(tmp_path)
    sync = Agent(runtime, "task.sync")
    sync.write_config("id-1", {"type": "synchronization", "source_endpoint": {"engine": "mysql"},
                               "destination_endpoint": {"engine": "sqlite"}, "throttle": {"rps": 10, "mbps": 0}}, [])
    sync.set_desired("running")
    write_json_atomic(sync.paths.status, {
        "state": "running", "phase": "incremental", "lag_seconds": 1.5, "rows_copied": 10, "events_applied": 3,
        "events_read": 4, "updated_at": time.time(),
        "tables": {"shop.orders": {"rows_copied": 10, "rows_estimated": 10, "done": True}}})
    write_json_atomic(sync.paths.supervisor, {"restarts": 1})
    subscription = Agent(runtime, "task.feed")
    attributes = {"type": "subscription", "source_endpoint": {"engine": "sqlite"}, "destination_endpoint": None,
                  "consumer_groups": {"billing": {"start": "earliest"}}, "retention": {"hours": 24, "megabytes": 0}}
    subscription.write_config("id-2", attributes, [])
    sync_groups(subscription.paths.root, attributes)
    nightly = Agent(runtime, "task.nightly")
    schedule = {"cron": "0 2 * * *", "timezone": "UTC"}
    nightly.write_config("id-3", {"type": "migration", "source_endpoint": {"engine": "sqlite"},
                                  "destination_endpoint": {"engine": "sqlite"}, "schedule": schedule}, [])
    book = RunBook(nightly.paths, schedule)
    book.start(time.time())
    book.finish("failed", 0, "the source is gone", time.time())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkspaceCollector(runtime))
    text = generate_latest(registry).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_dashboard_and_rules_name_only_metrics_the_exporter_emits(tmp_path: Path) -> None:
    emitted = exporter_output(tmp_path)
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [variable["query"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    queries += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {name for query in queries for name in METRIC_NAME.findall(query)}
    assert named, "no metric found in the dashboard and rules"
    assert named - emitted == set()
