"""Posting alert events to webhooks from a background thread, so supervision never waits.

Each event is POSTed as JSON; a failure (connection error, timeout, non-2xx answer) is
retried with exponential backoff, then dropped with a log line. The URL may hold a
token (it can come from a sensitive variable): it never appears in a log line.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("dtsctl.supervisor")

ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0
QUEUE_SIZE = 1000


class WebhookSender(threading.Thread):
    def __init__(self, first_backoff: float = FIRST_BACKOFF_SECONDS) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.first_backoff = first_backoff
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(QUEUE_SIZE)
        self._halt = threading.Event()

    def send(self, url: str, event: dict[str, Any]) -> None:
        """Queue the event; never blocks (when the queue is full the event is dropped and logged)."""
        try:
            self._queue.put_nowait((url, event))
        except queue.Full:
            log.error("%s: too many alert events waiting to be posted; dropped a %s %s event",
                      event["task"], event["kind"], event["status"])

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                url, event = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._deliver(url, event)

    def stop(self) -> None:
        self._halt.set()

    def _deliver(self, url: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        what = f"{event['task']}: {event['kind']} alert {event['status']}"
        delay = self.first_backoff
        for attempt in range(1, ATTEMPTS + 1):
            try:
                request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
                    log.info("%s: posted to the task's webhook", what)
                    return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else type(exc).__name__
                if attempt == ATTEMPTS or self._halt.wait(delay):
                    log.error("%s: the task's webhook did not take it after %d attempts (%s); dropped",
                              what, attempt, reason)
                    return
                log.warning("%s: the task's webhook failed (%s); retrying in %gs", what, reason, delay)
                delay = min(MAX_BACKOFF_SECONDS, delay * 2)
