"""A module being evaluated: what it has resolved so far, and the scope its templates read.

Shared by dtsctl.config.evaluate (the order of evaluation) and dtsctl.config.entries
(one endpoint, task or topology).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtsctl.config.build import ResolvedEndpoint
from dtsctl.config.model import Declaration, ModuleCall, Task, Topology, Variable
from dtsctl.config.problems import Problems
from dtsctl.config.reader import Entry, RawModule
from dtsctl.config.resources import AttributePath, DesiredResource
from dtsctl.config.run_names import run_space
from dtsctl.config.template import Scope, Space, TemplateError, mapping_space, render_tree

# Attributes an agent reports while it runs (contract, section 5); None until it does.
LIVE_ATTRIBUTES = ("state", "phase", "lag_seconds", "rows_copied", "events_applied", "pid", "last_error", "checkpoint")
OUTPUT_KEYS = {"value", "sensitive", "description"}


@dataclass(frozen=True)
class OutputValue:
    value: Any
    sensitive: bool


@dataclass
class _OutputSet:
    """Evaluated outputs, and the names of those that failed (reported already)."""

    values: dict[str, OutputValue] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Output:
    entry: Entry
    template: Any
    path: AttributePath  # where the template sits inside the entry (("value",) in the long form)
    declared_sensitive: bool


class _Failed:
    """Marks an endpoint whose own problem was already reported."""


FAILED = _Failed()


@dataclass
class ModuleInstance:
    """One evaluated module (the root, or a `modules:` call, recursively)."""

    raw: RawModule
    prefix: str  # address prefix: "" for the root, "module.dr." for a call
    workspace: Path
    environ: Mapping[str, str]
    parent: ModuleInstance | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    variable_models: dict[str, Variable] = field(default_factory=dict)
    sensitive_variables: set[str] = field(default_factory=set)
    failed_variables: set[str] = field(default_factory=set)
    locals: dict[str, Any] = field(default_factory=dict)
    tainted_locals: set[str] = field(default_factory=set)
    failed_locals: set[str] = field(default_factory=set)
    children: dict[str, ModuleInstance] = field(default_factory=dict)
    module_calls: dict[str, ModuleCall] = field(default_factory=dict)
    failed_children: set[str] = field(default_factory=set)
    endpoints: dict[str, ResolvedEndpoint | _Failed] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    topologies: dict[str, Topology] = field(default_factory=dict)
    task_resources: dict[str, DesiredResource] = field(default_factory=dict)
    topology_resources: dict[str, dict[str, DesiredResource]] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    static_outputs: _OutputSet = field(default_factory=_OutputSet)  # outputs as known before apply

    @property
    def label(self) -> str:
        return self.prefix.rstrip(".") or "the root module"

    def resources(self) -> list[DesiredResource]:
        """Every task resource of this module and the modules it calls."""
        found = list(self.task_resources.values())
        for tasks in self.topology_resources.values():
            found.extend(tasks.values())
        for child in self.children.values():
            found.extend(child.resources())
        return found

    def declaration(self) -> Declaration:
        endpoints = {n: e.model for n, e in self.endpoints.items() if isinstance(e, ResolvedEndpoint)}
        return Declaration(
            variables=self.variable_models,
            locals=self.locals,
            endpoints=endpoints,
            tasks=self.tasks,
            topologies=self.topologies,
            modules=self.module_calls,
            outputs={name: output.template for name, output in self.outputs.items()},
        )

    def find_endpoint(self, name: str) -> ResolvedEndpoint | _Failed | None:
        """The endpoint `name` as a task here sees it: this module's, else the nearest caller's."""
        module: ModuleInstance | None = self
        while module is not None:
            if name in module.endpoints:
                return module.endpoints[name]
            module = module.parent
        return None

    def scope(
        self,
        task_values: Mapping[str, Mapping[str, Any]] | None = None,
        child_outputs: Mapping[str, _OutputSet] | None = None,
    ) -> Scope:
        """Names an expression in this module reads; with `task_values`, also `task` and `topology`.

        `child_outputs` are the called modules' outputs to use instead of those known before apply.
        """
        if child_outputs is None:
            child_outputs = {name: child.static_outputs for name, child in self.children.items()}
        spaces = {
            "var": mapping_space(
                "var", self.variables, sensitive=self.sensitive_variables, failed=self.failed_variables,
                missing="unknown variable `var.{name}`; declare it under `variables:`",
            ),
            "local": mapping_space(
                "local", self.locals, sensitive=self.tainted_locals, failed=self.failed_locals,
                missing="unknown local `local.{name}`; declare it under `locals:`",
            ),
            "run": run_space(),
            "env": mapping_space("env", self.environ, missing="environment variable {name} is not set; export it before running dtsctl"),
            "module": mapping_space(
                "module",
                {name: _outputs_space(f"module.{name}", outputs) for name, outputs in child_outputs.items()},
                failed=self.failed_children,
                missing="unknown module `module.{name}`; declare it under `modules:`",
            ),
        }
        if task_values is not None:
            live = dict(task_values)
            spaces["task"] = mapping_space(
                "task", {n: _task_space(r, live) for n, r in self.task_resources.items()}, missing="unknown task `task.{name}`"
            )
            spaces["topology"] = mapping_space(
                "topology",
                {
                    n: mapping_space(f"topology.{n}", {"task": mapping_space(f"topology.{n}.task", {t: _task_space(r, live) for t, r in tasks.items()})})
                    for n, tasks in self.topology_resources.items()
                },
                missing="unknown topology `topology.{name}`",
            )
        return Scope(spaces)

    def output_values(self, task_values: Mapping[str, Mapping[str, Any]], problems: Problems) -> _OutputSet:
        """The outputs evaluated against live task values (the called modules' outputs first)."""
        children = {name: child.output_values(task_values, problems) for name, child in self.children.items()}
        scope = self.scope(task_values, children)
        result = _OutputSet()
        for name, output in self.outputs.items():
            errors: list[tuple[AttributePath, str | None]] = []
            value, tainted = render_tree(output.template, scope, errors, output.path)
            report(errors, output.entry, problems)
            if errors:
                result.failed.add(name)
            else:
                result.values[name] = OutputValue(value, output.declared_sensitive or bool(tainted))
        return result


def lineage(module: ModuleInstance) -> list[ModuleInstance]:
    chain = []
    current: ModuleInstance | None = module
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def _outputs_space(label: str, outputs: _OutputSet) -> Space:
    values = {name: output.value for name, output in outputs.values.items()}
    sensitive = {name for name, output in outputs.values.items() if output.sensitive}
    return mapping_space(label, values, sensitive=sensitive, failed=outputs.failed, missing=f"`{label}` has no output `{{name}}`")


def _task_space(resource: DesiredResource, live: Mapping[str, Mapping[str, Any]]) -> Space:
    """`task.NAME`: live values reported by the agent over the declared attributes."""
    values = live.get(resource.address, {})
    secret_tops = {path[0] for path in resource.sensitive_paths}

    def lookup(attribute: str) -> tuple[Any, bool]:
        if attribute in values:
            return values[attribute], attribute in secret_tops
        if attribute == "address":
            return resource.address, False
        if attribute in resource.attributes:
            return resource.attributes[attribute], attribute in secret_tops
        if attribute in LIVE_ATTRIBUTES:
            return None, False
        raise TemplateError(f"{resource.address} has no attribute `{attribute}`")

    return Space(resource.address, lookup)


def report(errors: list[tuple[AttributePath, str | None]], entry: Entry, problems: Problems) -> None:
    for path, message in errors:
        if message is not None:
            problems.add(entry.at(path), f"{entry.address}: {message}")
