"""The keys of a workspace under its etcd prefix (docs/cluster.md, "Keys").

    <prefix>/nodes/<name>             {"name", "host", "slots", "started_at"}   bound to the node's lease
    <prefix>/tasks/<address>/spec     {"task_id", "attributes", "sensitive_paths"}   secrets as references
    <prefix>/tasks/<address>/desired  {"desired": running | paused | stopped | deleted, "changed_at"}
    <prefix>/tasks/<address>/owner    {"node", "host"}   bound to the owner's lease; its revision is the fencing token
    <prefix>/tasks/<address>/status   what the owner's agent is doing (TaskView.as_contract + "node", "host")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dtsctl.cluster.store import Entry, EtcdStore

PARTS = ("spec", "desired", "owner", "status")


def node_key(store: EtcdStore, name: str) -> str:
    return store.key("nodes", name)


def task_key(store: EtcdStore, address: str, part: str) -> str:
    return store.key("tasks", address, part)


def task_prefix(store: EtcdStore, address: str) -> str:
    return store.key("tasks", address) + "/"


@dataclass
class TaskEntries:
    """One task's keys, as read together."""

    address: str
    parts: dict[str, Entry] = field(default_factory=dict)

    def value(self, part: str) -> Any:
        entry = self.parts.get(part)
        return None if entry is None else entry.value

    @property
    def desired(self) -> str:
        return (self.value("desired") or {}).get("desired", "stopped")

    @property
    def owner(self) -> Entry | None:
        return self.parts.get("owner")


def read_tasks(store: EtcdStore) -> dict[str, TaskEntries]:
    """Every task's keys by address, in one request."""
    prefix = store.key("tasks") + "/"
    tasks: dict[str, TaskEntries] = {}
    for entry in store.get_prefix(prefix):
        address, _, part = entry.key[len(prefix):].rpartition("/")
        if part in PARTS and address:
            tasks.setdefault(address, TaskEntries(address)).parts[part] = entry
    return tasks


def read_nodes(store: EtcdStore) -> dict[str, Entry]:
    """The live nodes (their keys vanish with their leases) by name."""
    prefix = store.key("nodes") + "/"
    return {entry.key[len(prefix):]: entry for entry in store.get_prefix(prefix)}
