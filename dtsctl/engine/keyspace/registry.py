"""Key-value engines and their connectors, imported only when a task uses one.

Table engines plug into dtsctl.connectors.registry (Source/Sink); a key-value
engine delivers snapshot and stream on one replication connection as commands,
which does not fit those interfaces, so it plugs in here with one line.
"""

from __future__ import annotations

import importlib
from typing import Any

from dtsctl.engine.keyspace.interfaces import KeyspaceConnector

# engine -> "module:attribute" of its KeyspaceConnector
_CONNECTORS: dict[str, str] = {
    "redis": "dtsctl.connectors.redis.connector:CONNECTOR",
}


def handles(attributes: dict[str, Any]) -> bool:
    """True when the task's source is a key-value engine (its pipeline is the keyspace one)."""
    return (attributes.get("source_endpoint") or {}).get("engine") in _CONNECTORS


def connector(engine: str) -> KeyspaceConnector:
    module_name, name = _CONNECTORS[engine].split(":")
    return getattr(importlib.import_module(module_name), name)
