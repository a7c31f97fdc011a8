"""The declaration layer: reads `*.dts.yaml` files into resources; never touches state or databases.

Its public names are imported on first use, so that a command which only needs
a light part of it (`dtsctl.config.resources`) does not load pydantic, jinja2
and YAML parsing at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dtsctl.config.fmt import format_yaml
    from dtsctl.config.workspace import OutputValue, Workspace, load_workspace

_HOMES = {
    "OutputValue": "dtsctl.config.workspace",
    "Workspace": "dtsctl.config.workspace",
    "format_yaml": "dtsctl.config.fmt",
    "load_workspace": "dtsctl.config.workspace",
}

__all__ = ["OutputValue", "Workspace", "format_yaml", "load_workspace"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
