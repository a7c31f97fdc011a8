"""The `workspace:` section: settings of the whole workspace, read from the root module only."""

from __future__ import annotations

from typing import Any

from dtsctl.config.model import Metrics, Runtime, WorkspaceSettings
from dtsctl.config.problems import Problems
from dtsctl.config.pydantic_problems import validate_entry
from dtsctl.config.reader import did_you_mean
from dtsctl.config.template import Scope, render_tree

SETTING_MODELS: dict[str, type[Any]] = {"metrics": Metrics, "runtime": Runtime}  # one per WorkspaceSettings field
SETTINGS = tuple(SETTING_MODELS)


def workspace_settings(entries: dict[str, Any], scope: Scope, problems: Problems) -> WorkspaceSettings:
    """The root module's settings (entries of its `workspace:` section), problems reported."""
    values: dict[str, Any] = {}
    for name, entry in entries.items():
        if name not in SETTINGS:
            problems.add(entry.at(), f"unknown workspace setting `{name}`{did_you_mean(name, SETTINGS)}; "
                                     f"settings are {', '.join(SETTINGS)}")
            continue
        errors: list[tuple[tuple[Any, ...], str | None]] = []
        rendered, _ = render_tree(entry.raw, scope, errors)
        for path, message in errors:
            if message is not None:
                problems.add(entry.at(path), f"{entry.address}: {message}")
        if errors:
            continue
        value = validate_entry(SETTING_MODELS[name], {} if rendered is None else rendered, entry, problems)
        if value is not None:
            values[name] = value
    return WorkspaceSettings(**values)


def module_settings_problems(modules: dict[str, Any], problems: Problems) -> None:
    """A called module cannot change the workspace's settings: say so where it tries."""
    for child in modules.values():
        for entry in child.raw.entries("workspace").values():
            problems.add(entry.at(), f"{entry.address}: only the root module's `workspace:` section counts; "
                                     f"move it there (module {child.label} is called by another)")
        module_settings_problems(child.children, problems)
