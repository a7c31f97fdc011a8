"""Which store holds a subscription task's records: the one place that decides.

The local runtime keeps them in the task's SQLite file (`store.SubscriptionStore`); the
cluster runtime in NATS JetStream (`jetstream.JetStreamStore`), replicated, so they outlive the
host that runs the task. `apply` on the cluster runtime puts `record_store` (the NATS servers,
the replicas and the stream's name, never a credential) in the task's attributes; the agent,
`status` and the SDK open the store from there.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from dtsctl.engine.subscription.spec import store_path
from dtsctl.engine.subscription.store import StoreMissing, SubscriptionStore

if TYPE_CHECKING:
    from dtsctl.engine.subscription.jetstream import JetStreamStore

RecordStore = Union[SubscriptionStore, "JetStreamStore"]
Location = Union[Path, dict[str, Any]]  # a store file, or a `record_store` attribute
RECORD_STORE = "record_store"


def record_store_attribute(runtime: dict[str, Any], address: str) -> dict[str, Any] | None:
    """The `record_store` a task at `address` gets on a runtime (the recorded `workspace.runtime`):
    None on the local runtime."""
    subscriptions = runtime.get("subscriptions") if runtime.get("backend") == "etcd" else None
    if not subscriptions:
        return None
    digest = hashlib.sha256(f"{runtime.get('prefix', '')}\0{address}".encode()).hexdigest()[:10]
    name = f"dtsctl_{re.sub(r'[^A-Za-z0-9_-]', '_', address)[:48]}_{digest}"
    tls = {part: path for part, path in (subscriptions.get("tls") or {}).items() if path}
    return {"nats": list(subscriptions["nats"]), "replicas": subscriptions.get("replicas", 3),
            "username": subscriptions.get("username"), "name": name, **({"tls": tls} if tls else {})}


def location(task_dir: Path, record_store: dict[str, Any] | None) -> Location:
    """Where a task's store is: its `record_store` attribute, else the file in its directory."""
    return record_store or store_path(task_dir)


def open_store(where: Location, create: bool = True) -> RecordStore:
    """The store at `where` (`location`); StoreMissing when `create` is False and it does not exist."""
    if isinstance(where, Path):
        return SubscriptionStore(where, create=create)
    from dtsctl.engine.subscription.jetstream import JetStreamStore  # nats-py: only on the cluster runtime
    from dtsctl.engine.subscription.nats_link import NatsSettings

    return JetStreamStore(NatsSettings.from_attribute(where), create=create)


def drop(record_store: dict[str, Any] | None) -> None:
    """Delete a task's replicated store (a local one goes with the task's directory)."""
    if record_store is not None:
        store = open_store(record_store, create=False)
        try:
            store.drop()
        finally:
            store.close()


def exists(where: Location) -> bool:
    """Whether there is a store at `where` (a local file is checked without creating it)."""
    if isinstance(where, Path):
        return where.is_file()
    try:
        open_store(where, create=False).close()
    except StoreMissing:
        return False
    return True
