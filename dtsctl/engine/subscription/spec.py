"""The subscription part of a task's typed specification, and where its store lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtsctl.engine.subscription.retention import Retention
from dtsctl.engine.subscription.store import STORE_FILE


@dataclass(frozen=True)
class SubscriptionSpec:
    retention: Retention
    groups: dict[str, str]  # name -> where a new group starts: "latest" | "earliest"
    delivery_endpoint: dict[str, Any] | None
    delivery_stream: str | None
    record_store: dict[str, Any] | None = None  # on the cluster runtime: the NATS stream (dtsctl.engine.subscription.stores)


def store_path(task_dir: Path) -> Path:
    return task_dir / STORE_FILE
