"""Hand-built desired resources and states for plan tests (no config loader involved)."""

from __future__ import annotations

import copy
from typing import Any

from dtsctl.config.resources import DesiredResource
from dtsctl.state import State, new_recorded

SOURCE_PASSWORD = "src-Secret-4711"
DESTINATION_PASSWORD = "dst-Secret-0815"


def endpoint(port: int, password: str) -> dict[str, Any]:
    return {
        "engine": "mysql", "host": "127.0.0.1", "port": port, "user": "dts", "password": password,
        "path": None, "database": None, "cluster": False,
    }


def task(address: str = "task.orders_sync", *, depends_on: tuple[str, ...] = (), **overrides: Any) -> DesiredResource:
    """A synchronization task bj -> sh; `overrides` replace top-level attributes."""
    attributes: dict[str, Any] = {
        "type": "synchronization",
        "source": "bj",
        "destination": "sh",
        "source_endpoint": endpoint(3306, SOURCE_PASSWORD),
        "destination_endpoint": endpoint(3307, DESTINATION_PASSWORD),
        "phases": ["schema", "full", "incremental"],
        "objects": [{
            "database": "shop", "tables": ["orders", "customers"], "all": False, "rename": None,
            "table_rename": {}, "filter": {}, "dml": ["insert", "update", "delete"], "ddl": True,
            "key_prefixes": None, "collections": None,
        }],
        "conflict_policy": "fail",
        "throttle": {"rps": 0.0, "mbps": 0.0},
        "retry": {"connection_minutes": 720.0, "other_minutes": 10.0},
        "status": "running",
        "lifecycle": {"prevent_destroy": False},
        "workspace": "/srv/dts",
    }
    attributes.update(copy.deepcopy(overrides))
    return DesiredResource(
        address=address,
        type="task",
        name=address.rsplit(".", 1)[-1],
        attributes=attributes,
        sensitive_paths=frozenset({("source_endpoint", "password"), ("destination_endpoint", "password")}),
        depends_on=depends_on,
    )


def with_endpoint(resource_endpoint: str, **changes: Any) -> dict[str, Any]:
    """Overrides for `task()` that change fields of the source or destination endpoint."""
    base = endpoint(3306, SOURCE_PASSWORD) if resource_endpoint == "source_endpoint" else endpoint(3307, DESTINATION_PASSWORD)
    return {resource_endpoint: {**base, **changes}}


def state_of(*resources: DesiredResource, serial: int = 3) -> State:
    """A state recording `resources` exactly as declared (as after a successful apply)."""
    return State(serial=serial, resources=[new_recorded(r) for r in resources])
