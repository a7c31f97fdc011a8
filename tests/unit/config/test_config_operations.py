"""Declaration fields for operating tasks: workspace metrics, alerts, schedules, throttle windows."""

from __future__ import annotations

import pytest

from tests.unit.config.conftest import SQLITE_PAIR

SCHEDULED = SQLITE_PAIR + """
variables:
  hook: {sensitive: true, default: "http://127.0.0.1:9/hook?token=abc"}
tasks:
  nightly:
    type: migration
    source: a
    destination: b
    phases: [schema, full]
    objects: [{database: main, tables: [orders], filter: {orders: "day >= '${ run.window_start }' AND day < '${run.window_end}'"}}]
    schedule: {cron: "0 2 * * *", timezone: Asia/Shanghai}
    alerts: {webhook: "${ var.hook }", lag_seconds: 60, for_seconds: 120}
    throttle: {rps: 100, windows: [{from: "09:00", to: "18:00", rps: 5}]}
"""


def _task(body: str) -> str:
    return SQLITE_PAIR + "tasks:\n  t:\n" + "\n".join("    " + line for line in body.strip().splitlines()) + "\n"


def test_scheduled_migration_keeps_run_placeholders_in_its_filter(write, load) -> None:
    [task] = load(write({"main.dts.yaml": SCHEDULED})).resources
    condition = task.attributes["objects"][0]["filter"]["orders"]
    assert condition == "day >= '${ run.window_start }' AND day < '${ run.window_end }'"
    assert task.attributes["schedule"] == {"cron": "0 2 * * *", "timezone": "Asia/Shanghai"}


def test_webhook_from_a_sensitive_variable_is_sensitive(write, load) -> None:
    [task] = load(write({"main.dts.yaml": SCHEDULED})).resources
    assert ("alerts", "webhook") in task.sensitive_paths
    assert task.attributes["alerts"] == {"webhook": "http://127.0.0.1:9/hook?token=abc", "lag_seconds": 60.0,
                                         "for_seconds": 120.0, "on_failure": True}


def test_throttle_windows_are_attributes_only_when_declared(write, load) -> None:
    [task] = load(write({"main.dts.yaml": SCHEDULED})).resources
    assert task.attributes["throttle"] == {"rps": 100.0, "mbps": 0.0, "timezone": "UTC",
                                           "windows": [{"from": "09:00", "to": "18:00", "rps": 5.0, "mbps": None}]}
    plain = _task("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]")
    [task] = load(write({"main.dts.yaml": plain})).resources
    assert task.attributes["throttle"] == {"rps": 0.0, "mbps": 0.0}
    assert "schedule" not in task.attributes and "alerts" not in task.attributes


@pytest.mark.parametrize(("body", "expected"), [
    ("type: migration\nsource: a\ndestination: b\nphases: [schema, full]\nobjects: [{database: main, all: true}]\n"
     "schedule: {cron: 'every day'}", "task.t.schedule.cron: `every day` is not a valid cron expression"),
    ("type: migration\nsource: a\ndestination: b\nphases: [schema, full]\nobjects: [{database: main, all: true}]\n"
     "schedule: {cron: '0 2 * * *', timezone: Mars/Base}", "unknown time zone `Mars/Base`"),
    ("type: synchronization\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]\n"
     "schedule: {cron: '0 2 * * *'}", "`schedule` is for migration tasks only"),
    ("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]\n"
     "schedule: {cron: '0 2 * * *'}", "cannot stream: set `phases` to [schema, full] or [full]"),
    ("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, tables: [o], filter: {o: \"d > '${ run.window_start }'\"}}]",
     "the filter of table `o` reads `run.` values, which only a task with `schedule` has"),
    ("type: migration\nsource: a\ndestination: b\nphases: [full]\nobjects: [{database: main, tables: [o], filter: {o: \"d > '${ run.day }'\"}}]\n"
     "schedule: {cron: '0 2 * * *'}", "unknown name `run.day`; a run has run.window_start and run.window_end"),
    ("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]\n"
     "throttle: {windows: [{from: '9:00', to: '18:00', rps: 1}]}", "`9:00` is not a time of day; write it as HH:MM"),
    ("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]\n"
     "throttle: {windows: [{from: '09:00', to: '09:00', rps: 1}]}", "is empty; give different times"),
    ("type: migration\nsource: a\ndestination: b\nobjects: [{database: main, all: true}]\n"
     "alerts: {webhook: 'ftp://x/secret-token'}", "the webhook must be an http:// or https:// URL"),
])
def test_bad_operations_fields_say_what_to_do(write, problems, body: str, expected: str) -> None:
    found = problems(write({"main.dts.yaml": _task(body)}))
    assert any(expected in line for line in found), found
    assert all("secret-token" not in line for line in found)


def test_workspace_metrics_setting(write, load, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  metrics: {}\n"})
    assert load(root).settings.metrics.address == "127.0.0.1:9464"
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  metrics: {address: '0.0.0.0:9500'}\n"})
    assert load(root).settings.metrics.address == "0.0.0.0:9500"
    root = write({"main.dts.yaml": SQLITE_PAIR})
    assert load(root).settings.metrics is None
    root = write({"main.dts.yaml": SQLITE_PAIR + "workspace:\n  metrix: {}\n  metrics: {address: nope}\n"})
    assert problems(root) == [
        "main.dts.yaml:5: unknown workspace setting `metrix` (did you mean `metrics`?); settings are metrics, runtime",
        "main.dts.yaml:6: workspace.metrics.address: metrics address `nope` must be HOST:PORT, e.g. 127.0.0.1:9464",
    ]


def test_a_module_cannot_set_workspace_settings(write, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "modules:\n  m: {source: ./mod}\n",
                  "mod/m.dts.yaml": "workspace:\n  metrics: {}\n"})
    [line] = problems(root)
    assert "only the root module's `workspace:` section counts" in line and line.startswith("mod/m.dts.yaml:2:")
