"""Prometheus metrics of a workspace, read from the files its agents already write.

Nothing is pushed and no agent waits: each scrape reads every task's status.json,
supervisor.json and runs.json (and a subscription's store) as `dtsctl status`
does. `METRICS` is the reference: the exporter emits exactly these names, and
docs/operations.md shows the table `reference_markdown()` renders (a test keeps
them equal).

prometheus_client is imported here only; the supervisor imports this module
when the workspace declares `workspace.metrics`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dtsctl.runtime.agent_control import Agent, list_agents
from dtsctl.runtime.layout import RuntimePaths

TASK_LABELS = ("address", "type", "source_engine", "destination_engine")
STATES = ("running", "paused", "failed", "stopped", "completed")
PHASES = ("precheck", "schema", "full", "incremental", "done")
RATE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class MetricDef:
    name: str  # as scraped (counters end in _total)
    kind: str  # gauge | counter
    help: str
    labels: tuple[str, ...] = TASK_LABELS


def _task(name: str, kind: str, help: str, *extra: str) -> MetricDef:
    return MetricDef(name, kind, help, TASK_LABELS + extra)


METRICS: tuple[MetricDef, ...] = (
    _task("dtsctl_task_up", "gauge", "1 while the task's agent process is alive."),
    _task("dtsctl_task_state", "gauge", "1 for the task's current state (running, paused, failed, stopped, completed), 0 for the others.", "state"),
    _task("dtsctl_task_phase", "gauge", "1 for the task's current phase (precheck, schema, full, incremental, done), 0 for the others.", "phase"),
    _task("dtsctl_task_lag_seconds", "gauge", "Source commit time of the newest change seen minus that of the newest applied; absent before incremental, and while a task with changes to apply has applied none yet or has no checkpoint to show."),
    _task("dtsctl_task_rows_copied_total", "counter", "Rows copied by the full copy since the task was created."),
    _task("dtsctl_task_rows_estimated", "gauge", "Rows the full copy expects to copy, summed over the task's tables."),
    _task("dtsctl_task_events_read_total", "counter", "Change events the agent read from the source since it started."),
    _task("dtsctl_task_events_applied_total", "counter", "Change events applied to the destination since the task was created."),
    _task("dtsctl_task_read_events_per_second", "gauge", "Events read per second over the last minute of scrapes."),
    _task("dtsctl_task_applied_events_per_second", "gauge", "Events applied per second over the last minute of scrapes."),
    _task("dtsctl_task_conflicts_total", "counter", "Conflicts met on the destination, by operation (insert, update, delete).", "operation"),
    _task("dtsctl_task_restarts_total", "counter", "Times the supervisor restarted the agent after it died (resets once the agent has run well for a minute)."),
    _task("dtsctl_task_error", "gauge", "1 while the task reports a last error (see `dtsctl status`), else 0."),
    _task("dtsctl_task_status_age_seconds", "gauge", "Seconds since the agent last wrote its status."),
    _task("dtsctl_task_throttle_rows_per_second", "gauge", "The rows-per-second limit in force now (throttle windows applied); 0 is unlimited."),
    _task("dtsctl_task_throttle_megabytes_per_second", "gauge", "The megabytes-per-second limit in force now; 0 is unlimited."),
    _task("dtsctl_table_rows_copied", "gauge", "Rows of one table copied by the full copy.", "table"),
    _task("dtsctl_table_rows_estimated", "gauge", "Rows of one table the full copy expects.", "table"),
    _task("dtsctl_table_copy_done", "gauge", "1 once one table's full copy is done.", "table"),
    _task("dtsctl_schedule_runs_total", "counter", "Runs of a scheduled migration, by result (completed, failed, skipped).", "result"),
    _task("dtsctl_schedule_last_run_rows", "gauge", "Rows the last finished run of a scheduled migration copied."),
    _task("dtsctl_schedule_last_run_duration_seconds", "gauge", "How long the last finished run of a scheduled migration took."),
    _task("dtsctl_schedule_next_run_timestamp_seconds", "gauge", "Unix time of the next run of a scheduled migration."),
    _task("dtsctl_subscription_group_lag_records", "gauge", "Records a consumer group has not processed yet.", "group"),
    _task("dtsctl_subscription_group_lag_seconds", "gauge", "Commit time of the newest record minus that of the group's last processed one.", "group"),
    _task("dtsctl_subscription_group_active_consumer", "gauge", "1 while a consumer holds the group's lease.", "group"),
    _task("dtsctl_subscription_retained_records", "gauge", "Records the subscription keeps."),
    _task("dtsctl_subscription_retention_seconds", "gauge", "How long records are kept (retention.hours); absent when age does not bound retention."),
)
BY_NAME = {metric.name: metric for metric in METRICS}


def reference_markdown() -> str:
    """The metrics reference table of docs/operations.md."""
    lines = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for metric in METRICS:
        extra = [label for label in metric.labels if label not in TASK_LABELS]
        labels = "task labels" + "".join(f", `{label}`" for label in extra)
        lines.append(f"| `{metric.name}` | {metric.kind} | {labels} | {metric.help} |")
    return "\n".join(lines) + "\n"


class RateMeter:
    """Per-second rate of a counter from the samples of the last RATE_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def rate(self, key: str, now: float, value: float) -> float:
        samples = self._samples.setdefault(key, deque())
        if samples and value < samples[-1][1]:
            samples.clear()  # the counter restarted with its agent
        samples.append((now, value))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW_SECONDS:
            samples.popleft()
        (first_at, first), (last_at, last) = samples[0], samples[-1]
        return 0.0 if last_at <= first_at else round((last - first) / (last_at - first_at), 3)


class Families:
    """The metric families of one scrape, filled one sample at a time."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        metric = BY_NAME[name]
        family = self._families.get(name)
        if family is None:
            if metric.kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), metric.help, labels=metric.labels)
            else:
                family = GaugeMetricFamily(name, metric.help, labels=metric.labels)
            self._families[name] = family
        family.add_metric([labels[label] for label in metric.labels], float(value))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class WorkspaceCollector(Collector):
    """Reads the runtime directory on each scrape."""

    def __init__(self, runtime: RuntimePaths) -> None:
        self.runtime = runtime
        self.rates = RateMeter()

    def collect(self) -> Iterator[Metric]:
        families = Families()
        now = time.time()
        for agent in list_agents(self.runtime):
            try:
                self._task(families, agent, now)
            except (OSError, ValueError, KeyError):  # a task being created or removed right now
                continue
        return iter(families)

    def _task(self, families: Families, agent: Agent, now: float) -> None:
        attributes = agent.config().get("attributes") or {}
        labels = task_labels(agent.address, attributes)
        view = agent.view()
        data = view.as_contract()
        add = families.add
        add("dtsctl_task_up", labels, view.pid is not None)
        for state in STATES:
            add("dtsctl_task_state", {**labels, "state": state}, view.state == state)
        for phase in PHASES:
            add("dtsctl_task_phase", {**labels, "phase": phase}, view.phase == phase)
        if data["lag_seconds"] is not None:
            add("dtsctl_task_lag_seconds", labels, data["lag_seconds"])
        add("dtsctl_task_rows_copied_total", labels, data["rows_copied"])
        add("dtsctl_task_rows_estimated", labels, sum(t.get("rows_estimated", 0) for t in data["tables"].values()))
        add("dtsctl_task_events_read_total", labels, data["events_read"])
        add("dtsctl_task_events_applied_total", labels, data["events_applied"])
        add("dtsctl_task_read_events_per_second", labels, self.rates.rate(agent.address + " read", now, data["events_read"]))
        add("dtsctl_task_applied_events_per_second", labels,
            self.rates.rate(agent.address + " applied", now, data["events_applied"]))
        for operation, count in data["conflicts"].items():
            add("dtsctl_task_conflicts_total", {**labels, "operation": operation}, count)
        add("dtsctl_task_restarts_total", labels, data["restarts"])
        add("dtsctl_task_error", labels, view.last_error is not None)
        updated_at = view.status.get("updated_at")
        if updated_at:
            add("dtsctl_task_status_age_seconds", labels, max(0.0, now - float(updated_at)))
        throttle = data.get("throttle")
        if throttle:
            add("dtsctl_task_throttle_rows_per_second", labels, throttle["rps"])
            add("dtsctl_task_throttle_megabytes_per_second", labels, throttle["mbps"])
        for table, progress in data["tables"].items():
            table_labels = {**labels, "table": table}
            add("dtsctl_table_rows_copied", table_labels, progress.get("rows_copied", 0))
            add("dtsctl_table_rows_estimated", table_labels, progress.get("rows_estimated", 0))
            add("dtsctl_table_copy_done", table_labels, bool(progress.get("done")))
        self._schedule(families, labels, data.get("schedule"))
        self._subscription(families, labels, agent, attributes)

    @staticmethod
    def _schedule(families: Families, labels: dict[str, str], schedule: dict[str, Any] | None) -> None:
        if not schedule:
            return
        for result, count in schedule["results"].items():
            families.add("dtsctl_schedule_runs_total", {**labels, "result": result}, count)
        last = schedule.get("last_run")
        if last and last.get("ended_at"):
            families.add("dtsctl_schedule_last_run_rows", labels, last.get("rows", 0))
            families.add("dtsctl_schedule_last_run_duration_seconds", labels, last["ended_at"] - last["started_at"])
        if schedule.get("next_run_at"):
            families.add("dtsctl_schedule_next_run_timestamp_seconds", labels, schedule["next_run_at"])

    @staticmethod
    def _subscription(families: Families, labels: dict[str, str], agent: Agent, attributes: dict[str, Any]) -> None:
        if attributes.get("type") != "subscription":
            return
        from dtsctl.engine.subscription.spec import store_path
        from dtsctl.engine.subscription.status import describe

        path = store_path(agent.paths.root)
        if not path.is_file():
            return
        stream = describe(path)
        for group in stream["groups"]:
            group_labels = {**labels, "group": group["name"]}
            families.add("dtsctl_subscription_group_lag_records", group_labels, group["lag_records"])
            families.add("dtsctl_subscription_group_lag_seconds", group_labels, group["lag_seconds"])
            families.add("dtsctl_subscription_group_active_consumer", group_labels, group["holder"] is not None)
        families.add("dtsctl_subscription_retained_records", labels, stream["retained"]["records"])
        hours = float((attributes.get("retention") or {}).get("hours") or 0)
        if hours:
            families.add("dtsctl_subscription_retention_seconds", labels, hours * 3600)


def task_labels(address: str, attributes: dict[str, Any]) -> dict[str, str]:
    destination = attributes.get("destination_endpoint") or {}
    return {
        "address": address,
        "type": str(attributes.get("type", "")),
        "source_engine": str((attributes.get("source_endpoint") or {}).get("engine", "")),
        "destination_engine": str(destination.get("engine", "")),
    }


if __name__ == "__main__":
    print(reference_markdown(), end="")
