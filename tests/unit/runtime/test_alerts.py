"""Alert events: when lag and failure alerts fire and resolve, and how they are posted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from dtsctl.runtime.agents import TaskView
from dtsctl.runtime.alerts import AlertTracker
from dtsctl.runtime.webhook import WebhookSender


def view(state: str = "running", lag: float | None = 0.0, error: str | None = None) -> TaskView:
    return TaskView("task.t", state, "incremental", 1, {"lag_seconds": lag}, error)


def test_lag_fires_after_for_seconds_over_the_threshold_and_resolves() -> None:
    tracker = AlertTracker("task.t", {"lag_seconds": 60, "for_seconds": 120, "on_failure": False, "webhook": "x"})
    assert tracker.observe(view(lag=61), 1000.0) == []
    assert tracker.observe(view(lag=90), 1119.0) == []
    [fired] = tracker.observe(view(lag=95), 1120.0)
    assert fired == {"task": "task.t", "kind": "lag", "status": "firing", "value": 95, "threshold": 60,
                     "first_seen": "1970-01-01T00:16:40+00:00", "resolved": None,
                     "message": "task.t: lag 95s is over 60s"}
    assert tracker.observe(view(lag=99), 1130.0) == []  # fires once
    [resolved] = tracker.observe(view(lag=3), 1200.0)
    assert resolved["status"] == "resolved" and resolved["resolved"] == "1970-01-01T00:20:00+00:00"
    assert resolved["first_seen"] == fired["first_seen"]


def test_lag_that_drops_before_for_seconds_never_fires() -> None:
    tracker = AlertTracker("task.t", {"lag_seconds": 60, "for_seconds": 120, "on_failure": False, "webhook": "x"})
    assert tracker.observe(view(lag=61), 0.0) == []
    assert tracker.observe(view(lag=1), 100.0) == []
    assert tracker.observe(view(lag=61), 150.0) == []  # the wait starts again
    assert tracker.observe(view(lag=61), 269.0) == []


def test_failure_fires_at_once_and_resolves_when_the_task_runs_again() -> None:
    tracker = AlertTracker("task.t", {"lag_seconds": None, "for_seconds": 0, "on_failure": True, "webhook": "x"})
    [fired] = tracker.observe(view("failed", None, "precheck failed: no binlog"), 10.0)
    assert (fired["kind"], fired["status"], fired["value"]) == ("failure", "firing", "precheck failed: no binlog")
    [resolved] = tracker.observe(view(), 20.0)
    assert (resolved["kind"], resolved["status"]) == ("failure", "resolved")


class Receiver:
    """A local webhook that answers 500 to the first `failures` posts, then records the events."""

    def __init__(self, failures: int) -> None:
        self.events: list[dict] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                outer.attempts += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.attempts <= failures:
                    self.send_response(500)
                else:
                    outer.events.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=s3cret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(failures=2)
    yield receiver
    receiver.server.shutdown()


def test_posts_are_retried_with_backoff_and_never_block_the_caller(receiver: Receiver, caplog) -> None:
    sender = WebhookSender(first_backoff=0.1)
    sender.start()
    started = time.monotonic()
    sender.send(receiver.url, {"task": "task.t", "kind": "lag", "status": "firing"})
    assert time.monotonic() - started < 0.05
    deadline = time.monotonic() + 10
    while not receiver.events and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.stop()
    assert receiver.events == [{"task": "task.t", "kind": "lag", "status": "firing"}]
    assert receiver.attempts == 3
    assert "s3cret" not in caplog.text and "retrying in" in caplog.text
