"""Loading a workspace: the public entry point of the config layer."""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtsctl.config.dataflow import cycle_problems, with_upstream
from dtsctl.config.evaluate import ModuleInstance, OutputValue, evaluate_module, variable_models
from dtsctl.config.model import Declaration, WorkspaceSettings
from dtsctl.config.overlap import self_copy_problem, write_conflicts
from dtsctl.config.problems import Location, Problems
from dtsctl.config.reader import DECLARATION_GLOB, read_module
from dtsctl.config.resources import DesiredResource
from dtsctl.config.settings import module_settings_problems, workspace_settings
from dtsctl.config.variables import ENV_PREFIX, root_assignments
from dtsctl.errors import ValidationFailed

__all__ = ["OutputValue", "Workspace", "load_workspace"]


@dataclass
class Workspace:
    """A loaded, valid workspace."""

    root: Path
    files: list[Path]
    resources: list[DesiredResource]
    declaration: Declaration
    variables: dict[str, Any]
    sensitive_variables: set[str]
    settings: WorkspaceSettings
    _module: ModuleInstance = field(repr=False)

    def evaluate_outputs(self, task_values: Mapping[str, Mapping[str, Any]]) -> dict[str, OutputValue]:
        """The root outputs, reading live task attributes from `task_values` (address -> attributes).

        Live attributes an agent has not reported yet (e.g. `lag_seconds`) read as None.
        Raises ValidationFailed when an output cannot be evaluated.
        """
        problems = Problems()
        outputs = self._module.output_values(task_values, problems)
        problems.raise_if_any()
        return outputs.values


def load_workspace(
    root: Path,
    var_files: Sequence[Path] = (),
    var_args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """Read, evaluate and check every `*.dts.yaml` in `root`; raises ValidationFailed listing every problem."""
    # Loading keeps every object it makes until the end and makes few reference cycles, but
    # CPython's cycle collector would walk the ever larger heap again and again, which grows
    # faster than the workspace: collect once the load is over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_workspace(root, var_files, var_args, environ)
    finally:
        if collecting:
            gc.enable()


def _load_workspace(
    root: Path, var_files: Sequence[Path], var_args: Sequence[str], environ: Mapping[str, str] | None
) -> Workspace:
    root = root.resolve()
    environ = dict(os.environ if environ is None else environ)
    if not root.is_dir():
        raise ValidationFailed([f"workspace folder {root} does not exist; pass an existing folder with -C DIR"])
    problems = Problems()
    raw = read_module(root, problems)
    if not raw.files:
        raise ValidationFailed([f"no {DECLARATION_GLOB} files in {root}; run dtsctl in a workspace folder or pass -C DIR"])
    declared = variable_models(raw, problems)
    given = root_assignments(root, declared, var_files, var_args, environ, problems, Location(raw.files[0], 1))
    module = evaluate_module(
        raw,
        prefix="",
        workspace=root,
        given=given,
        how_to_set="give it in a *.dtsvars.yaml file, with --var {name}=VALUE or " + ENV_PREFIX + "{name}",
        environ=environ,
        problems=problems,
    )
    resources = _dependency_order(with_upstream(module.resources()))
    _check_across_tasks(resources, problems)
    settings = workspace_settings(raw.entries("workspace"), module.scope(), problems)
    module_settings_problems(module.children, problems)
    _check_runtime(resources, settings, problems)
    problems.raise_if_any()
    return Workspace(
        root=root,
        files=raw.files,
        resources=resources,
        declaration=module.declaration(),
        variables=module.variables,
        sensitive_variables=module.sensitive_variables,
        settings=settings,
        _module=module,
    )


def _check_across_tasks(resources: list[DesiredResource], problems: Problems) -> None:
    for resource in resources:
        message = self_copy_problem(resource)
        if message:
            problems.add(Location(Path(resource.file), resource.line), message)
    for resource, message in [*write_conflicts(resources), *cycle_problems(resources)]:
        problems.add(Location(Path(resource.file), resource.line), message)


def _check_runtime(resources: list[DesiredResource], settings: WorkspaceSettings, problems: Problems) -> None:
    """On the etcd runtime a subscription's records go to NATS JetStream, which the runtime must name."""
    runtime = settings.runtime
    if runtime is None or runtime.backend != "etcd" or runtime.subscriptions is not None:
        return
    for resource in resources:
        if resource.attributes.get("type") == "subscription":
            problems.add(Location(Path(resource.file), resource.line),
                         f"{resource.address}: a subscription on the etcd runtime keeps its records in NATS "
                         "JetStream; name its servers in `workspace.runtime.subscriptions`, e.g. "
                         '`subscriptions: {nats: ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", '
                         '"nats://10.0.0.3:4222"]}`')


def _dependency_order(resources: list[DesiredResource]) -> list[DesiredResource]:
    """Stable order in which every resource comes after the ones it depends on."""
    by_address = {r.address: r for r in resources}
    ordered: list[DesiredResource] = []
    placed: set[str] = set()

    def place(resource: DesiredResource) -> None:
        if resource.address in placed:
            return
        placed.add(resource.address)
        for dep in resource.depends_on:
            if dep in by_address:
                place(by_address[dep])
        ordered.append(resource)

    for resource in resources:
        place(resource)
    return ordered
