"""Finding a module's folder from its `source`.

A source is a folder relative to the calling module's folder, or the name of a
module shipped with dtsctl (the project's `modules/` folder) or found on
`DTSCTL_MODULE_PATH` (colon-separated folders, searched first).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import dtsctl

MODULE_PATH_ENV = "DTSCTL_MODULE_PATH"
SHIPPED_MODULES = Path(dtsctl.__file__).resolve().parent.parent / "modules"


def module_search_path(environ: Mapping[str, str]) -> list[Path]:
    extra = [Path(part) for part in environ.get(MODULE_PATH_ENV, "").split(os.pathsep) if part]
    return [*extra, SHIPPED_MODULES]


def resolve_module_source(source: str, caller_folder: Path, environ: Mapping[str, str]) -> Path | None:
    """The module's folder, or None when `source` names no folder."""
    local = (caller_folder / Path(source).expanduser()).resolve()
    if local.is_dir():
        return local
    if "/" in source or source.startswith("."):
        return None
    for folder in module_search_path(environ):
        candidate = (folder / source).resolve()
        if candidate.is_dir():
            return candidate
    return None
