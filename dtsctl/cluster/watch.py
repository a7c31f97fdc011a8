"""Wake a node as soon as the workspace's coordination keys change (an etcd watch).

A node still makes a full pass every second: the watch only shortens the wait, so a task
applied, paused, destroyed or left without an owner (its owner's lease expired) is acted on
within milliseconds instead of up to a second later. Only keys a node acts on wake it: a
task's spec, desired state and owner, and the nodes; the status every owner publishes does not.
A watch that cannot be kept (an endpoint down, no quorum) is opened again on the next endpoint
after a pause; meanwhile the one-second pass is the fallback, so nothing depends on it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import requests
from etcd3gw.exceptions import Etcd3Exception

from dtsctl.cluster.store import REQUEST_SECONDS, EtcdStore, prefix_range
from dtsctl.errors import DtsError

IDLE_SECONDS = 30.0  # a quiet watch is reopened after this long (a half-open connection cannot hide)
RETRY_SECONDS = 1.0
WAKING_PARTS = ("spec", "desired", "owner")
log = logging.getLogger("dtsctl.node")


class ChangeWatch:
    """`changed` is set whenever a key a node acts on is written or deleted."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store
        self._root = store.key("")  # the workspace's prefix, with its trailing slash
        self.changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etcd-watch", daemon=True)
        self._revision = 0  # the last revision seen: a reopened watch continues after it
        self._attempt = 0  # which endpoint to watch: the next one after a failure

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The daemon thread ends with its stream's next line or idle timeout; nothing waits for it."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except (requests.RequestException, Etcd3Exception, ValueError, KeyError, DtsError) as exc:
                self._attempt += 1
                if not self._stop.is_set():
                    log.debug("etcd watch interrupted (%s); the node's pass continues every second", exc)
                    self._stop.wait(RETRY_SECONDS)

    def _follow(self) -> None:
        """Stream one watch of the whole prefix until it ends, waking on the keys that matter."""
        session, url, headers = self.store.watch_endpoint(self._attempt)
        key, range_end = prefix_range(self._root)
        create: dict[str, Any] = {"key": key, "range_end": range_end}
        if self._revision:
            create["start_revision"] = str(self._revision + 1)
        with session.post(url, json={"create_request": create}, stream=True, headers=headers,
                          timeout=(REQUEST_SECONDS, IDLE_SECONDS)) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line:
                    self._take(json.loads(line)["result"])

    def _take(self, result: dict[str, Any]) -> None:
        revision = int(result.get("header", {}).get("revision", 0))
        events = result.get("events", [])
        if result.get("compact_revision"):  # the revision to continue from was compacted: start anew
            self._revision = 0
            self.changed.set()
            return
        self._revision = max(self._revision, revision)
        if any(self._wakes(event) for event in events):
            self.changed.set()

    def _wakes(self, event: dict[str, Any]) -> bool:
        relative = self.store.decode_key(event["kv"]["key"])[len(self._root):]
        return relative.startswith("nodes/") or (relative.startswith("tasks/") and
                                                 relative.rsplit("/", 1)[-1] in WAKING_PARTS)
