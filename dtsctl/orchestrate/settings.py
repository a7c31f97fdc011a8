"""Recording the workspace's settings where the supervisor reads them (`.dtsctl/workspace.json`)."""

from __future__ import annotations

from dtsctl.config.model import WorkspaceSettings
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.layout import RuntimePaths


def record_settings(settings: WorkspaceSettings, runtime: RuntimePaths) -> None:
    """Write the settings when they changed; the running supervisor follows them within a pass."""
    document = {"metrics": settings.metrics.model_dump() if settings.metrics else None,
                "runtime": settings.runtime.model_dump() if settings.runtime else None}
    if read_json(runtime.settings, None) != document:
        write_json_atomic(runtime.settings, document)
