"""Key-value engines and their connectors, imported only when a task uses one.

Table engines plug into dtsctl.connectors.registry (Source/Sink); a key-value
engine delivers snapshot and stream on one replication connection as commands,
which does not fit those interfaces, so it plugs in here with one line.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from dtsctl.engine.keyspace.interfaces import KeyspaceConnector

# engine -> "module:attribute" of its KeyspaceConnector
_CONNECTORS: dict[str, str] = {
    "redis": "dtsctl.connectors.redis.connector:CONNECTOR",
}
# engine -> module with its subscription support: SubscriptionRedisSource-like source, make_reader,
# KeyspaceRecorder and precheck (docs/subscriptions.md, "Redis sources")
_SUBSCRIPTIONS: dict[str, str] = {
    "redis": "dtsctl.connectors.redis.subscription",
}


def handles(attributes: dict[str, Any]) -> bool:
    """True when the task's source is a key-value engine (its pipeline is the keyspace one)."""
    return (attributes.get("source_endpoint") or {}).get("engine") in _CONNECTORS


def subscription_support(engine: str) -> ModuleType:
    return importlib.import_module(_SUBSCRIPTIONS[engine])


def connector(engine: str) -> KeyspaceConnector:
    module_name, name = _CONNECTORS[engine].split(":")
    return getattr(importlib.import_module(module_name), name)
