"""The subscription attributes of a task (dtsctl.config.resources), resolved for the engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtsctl.engine.subscription.retention import Retention
from dtsctl.engine.subscription.store import STORE_FILE, SubscriptionStore


@dataclass(frozen=True)
class SubscriptionSpec:
    retention: Retention
    groups: dict[str, str]  # name -> where a new group starts: "latest" | "earliest"
    delivery_endpoint: dict[str, Any] | None
    delivery_stream: str | None

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any]) -> "SubscriptionSpec":
        groups = attributes.get("consumer_groups") or {}
        deliver_to = attributes.get("deliver_to") or {}
        return cls(
            retention=Retention.from_attributes(attributes),
            groups={name: (options or {}).get("start", "latest") for name, options in groups.items()},
            delivery_endpoint=attributes.get("delivery_endpoint"),
            delivery_stream=deliver_to.get("stream"),
        )


def store_path(task_dir: Path) -> Path:
    return task_dir / STORE_FILE


def sync_groups(task_dir: Path, attributes: dict[str, Any]) -> None:
    """Create the task's store if needed and make its groups the declared ones (apply calls this,
    so a new group can be read at once and a removed one's offset is gone)."""
    task_dir.mkdir(parents=True, exist_ok=True)
    store = SubscriptionStore(store_path(task_dir))
    try:
        store.sync_groups(SubscriptionSpec.from_attributes(attributes).groups)
    finally:
        store.close()
