"""One task as `apply`, `destroy`, `plan` and `status` see it in the cluster runtime: its keys in etcd.

It answers like a local Agent (dtsctl.runtime.agent_control) so the orchestrator treats both
alike, but it never holds credentials: the spec goes to etcd with its secrets as references
(dtsctl.cluster.secrets), and the owning node tears the task down on destroy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any

from dtsctl import registry
from dtsctl.cluster.keys import TaskEntries, read_nodes, task_key, task_prefix
from dtsctl.cluster.secrets import redact
from dtsctl.cluster.store import EtcdStore
from dtsctl.engine.plugin import PipelineKind
from dtsctl.engine.subscription.stores import RECORD_STORE
from dtsctl.errors import DtsError
from dtsctl.runtime.agent_control import GRACEFUL_STOP_SECONDS, TaskView

WAIT_POLL_SECONDS = 0.2
TEARDOWN_SECONDS = 60.0
ACTIVE = ("running", "paused", "stopped")


def unsupported_reason(attributes: dict[str, Any]) -> str | None:
    """Why a task cannot run on the cluster runtime yet (it needs files shared with another task, or
    its engine cannot fence a former owner)."""
    source = registry.engine(attributes["source_endpoint"]["engine"])
    if attributes.get("type") == "subscription":
        if attributes.get("deliver_to"):
            return "`deliver_to` keeps its cursor on one host; run the subscription on the local runtime"
        if source.pipeline is not PipelineKind.TABLES:
            return (f"subscriptions on {source.name} sources cannot resume on another host yet; run them on the "
                    "local runtime")
        return None
    if source.pipeline is PipelineKind.DOCUMENT:
        return (f"{source.name} tasks cannot fence a former owner off their destination yet; run them on the "
                "local runtime")
    topology = attributes.get("topology") or {}
    if topology.get("type") in ("one-to-many", "two-way"):
        return f"a {topology['type']} topology shares a change log between its tasks on one host; " \
               "run it on the local runtime"
    return None


class ClusterTask:
    def __init__(self, store: EtcdStore, address: str, record_store: dict[str, Any] | None = None) -> None:
        self.store = store
        self.address = address
        self.record_store = record_store  # where a subscription's records go (dtsctl.engine.subscription.stores)

    def _entries(self) -> TaskEntries:
        entries = TaskEntries(self.address)
        prefix = task_prefix(self.store, self.address)
        for entry in self.store.get_prefix(prefix):
            entries.parts[entry.key[len(prefix):]] = entry
        return entries

    @property
    def exists(self) -> bool:
        return self.store.get(task_key(self.store, self.address, "spec")) is not None

    @property
    def desired(self) -> str:
        return self._entries().desired

    def config(self) -> dict[str, Any]:
        return {}  # clear credentials exist only on the nodes

    def write_config(self, task_id: str, attributes: dict[str, Any], sensitive_paths: Iterable[Sequence[Any]]) -> None:
        if attributes.get("type") == "subscription":
            attributes = {**attributes, RECORD_STORE: self.record_store}
        spec = {"task_id": task_id, "attributes": redact(self.address, task_id, attributes, sensitive_paths),
                "sensitive_paths": sorted(list(path) for path in sensitive_paths)}
        self.store.put(task_key(self.store, self.address, "spec"), spec)

    def set_desired(self, desired: str) -> float:
        changed_at = time.time()
        self.store.put(task_key(self.store, self.address, "desired"), {"desired": desired, "changed_at": changed_at})
        return changed_at

    def starting(self) -> contextlib.AbstractContextManager[None]:
        """The owning node starts the agent: nothing to start ahead of it here."""
        return contextlib.nullcontext()

    def start(self) -> None:
        self.set_desired("running")

    def stop(self, desired: str) -> None:
        """Record why it stops, then wait until its owner (if any) reports its agent stopped."""
        changed_at = self.set_desired(desired)
        self._wait(lambda entries: entries.owner is None or _acted_on(entries, changed_at),
                   GRACEFUL_STOP_SECONDS + 10, "stop its agent")

    def remove(self) -> None:
        """The owning node (any node when none owns it) stops the agent, removes dtsctl's objects on the
        endpoints with its own credentials, and deletes the task's keys."""
        if not self.exists:
            self.store.delete_prefix(task_prefix(self.store, self.address))  # a desired state, never handed over
            return
        if not read_nodes(self.store):
            raise DtsError(f"{self.address}: no node is running to tear the task down; start `dtsctl node run` "
                           "on a host, then run this again")
        self.set_desired("deleted")
        self._wait(lambda entries: "spec" not in entries.parts, TEARDOWN_SECONDS, "tear it down")
        self.store.delete_prefix(task_prefix(self.store, self.address))

    def leave_shared_log(self, task_id: str, attributes: dict[str, Any]) -> None:
        """Nothing to leave: tasks sharing a change log do not run on the cluster runtime."""

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done(entries := self._entries()):
            if time.monotonic() > deadline:
                owner = (entries.value("owner") or {}).get("node", "no node")
                raise DtsError(f"{self.address}: {owner} did not {what} within {timeout:g}s; see `dtsctl node list` "
                               f"and that node's log, then run this again")
            time.sleep(WAIT_POLL_SECONDS)

    def view(self) -> TaskView:
        return view_of(self._entries())


def _acted_on(entries: TaskEntries, changed_at: float) -> bool:
    status = entries.value("status") or {}
    return status.get("desired_at", 0) >= changed_at and not status.get("pid")


def view_of(entries: TaskEntries) -> TaskView:
    """What the task is doing, as its owner last reported it."""
    status = dict(entries.value("status") or {})
    owner = entries.value("owner") or {}
    desired = entries.desired
    state = status.get("state") or "stopped"
    last_error = status.get("last_error")
    if desired == "paused":
        state = "paused"
    elif not owner and desired == "running" and state not in ("completed", "failed"):
        # to be (re)started by a node: like a crashed agent the supervisor restarts, if any node is alive
        state, last_error = "stopped", last_error or "no node owns it yet: waiting for a node with a free slot"
        status["state"] = "running"
    return TaskView(entries.address, state, status.get("phase"), status.get("pid") if owner else None, status,
                    last_error, int(status.get("restarts", 0)), status.get("schedule"), status.get("throttle"),
                    node=owner.get("node"), host=owner.get("host"))
