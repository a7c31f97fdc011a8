"""Evaluating one module: variables, locals, module calls, endpoints, tasks, topologies, outputs.

Order inside a module: variables are bound first; locals, endpoints and module
calls are evaluated in dependency order (a module call after the caller's
endpoints, which its tasks may name); then tasks and topologies, which may read
all of those; outputs last, since they may also read tasks. Every problem is recorded and evaluation carries on, so
`validate` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dtsctl.config.build import ResolvedEndpoint, delivery_problem, object_problem, task_resource
from dtsctl.config.model import Declaration, Endpoint, ModuleCall, Task, Topology, Variable
from dtsctl.config.modsource import module_search_path, resolve_module_source
from dtsctl.config.problems import Problems
from dtsctl.config.pydantic_problems import validate_entry
from dtsctl.config.reader import DECLARATION_GLOB, Entry, RawModule, read_module
from dtsctl.config.resources import AttributePath, DesiredResource
from dtsctl.config.run_names import run_space
from dtsctl.config.template import Scope, Space, TemplateError, mapping_space, references, render_tree
from dtsctl.config.topology import expand_topology, topology_problems
from dtsctl.config.variables import Assignment, bind_variables

M = TypeVar("M")

# Attributes an agent reports while it runs (contract, section 5); None until it does.
LIVE_ATTRIBUTES = ("state", "phase", "lag_seconds", "rows_copied", "events_applied", "pid", "last_error", "checkpoint")
_OUTPUT_KEYS = {"value", "sensitive", "description"}


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
class _Output:
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
    outputs: dict[str, _Output] = field(default_factory=dict)
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
            _report(errors, output.entry, problems)
            if errors:
                result.failed.add(name)
            else:
                result.values[name] = OutputValue(value, output.declared_sensitive or bool(tainted))
        return result


def evaluate_module(
    raw: RawModule,
    *,
    prefix: str,
    workspace: Path,
    given: Mapping[str, Assignment],
    how_to_set: str,
    environ: Mapping[str, str],
    problems: Problems,
    parent: ModuleInstance | None = None,
    call_stack: tuple[Path, ...] = (),
) -> ModuleInstance:
    module = ModuleInstance(raw, prefix, workspace, environ, parent)
    _bind_variables(module, given, how_to_set, problems)
    for name in _dependency_order(module, problems):
        kind, _, item = name.partition(".")
        if kind == "local":
            _evaluate_local(module, item, problems)
        elif kind == "endpoint":
            _evaluate_endpoint(module, raw.entries("endpoints")[item], problems)
        else:
            _evaluate_call(module, item, problems, call_stack)
    for entry in raw.entries("tasks").values():
        _evaluate_task(module, entry, problems)
    for entry in raw.entries("topologies").values():
        _evaluate_topology(module, entry, problems)
    for entry in raw.entries("outputs").values():
        _declare_output(module, entry, problems)
    module.static_outputs = module.output_values({}, problems)
    return module


def variable_models(raw: RawModule, problems: Problems) -> dict[str, Variable]:
    """The module's valid variable declarations (problems with the others are reported)."""
    models = {}
    for name, entry in raw.entries("variables").items():
        variable = validate_entry(Variable, entry.raw, entry, problems)
        if variable is not None:
            models[name] = variable
    return models


def _bind_variables(module: ModuleInstance, given: Mapping[str, Assignment], how_to_set: str, problems: Problems) -> None:
    entries = module.raw.entries("variables")
    module.variable_models = variable_models(module.raw, problems)
    module.failed_variables = set(entries) - set(module.variable_models)
    for name, assignment in given.items():
        if name not in entries and assignment.where is not None:
            problems.add(assignment.where, f"{module.label} has no input `{name}`; it takes {sorted(entries) or 'no inputs'}")
    declared_at = {name: entry.at() for name, entry in entries.items()}
    values, sensitive, failed = bind_variables(module.variable_models, declared_at, given, problems, how_to_set)
    module.variables, module.sensitive_variables = values, sensitive
    module.failed_variables |= failed


def _dependency_order(module: ModuleInstance, problems: Problems) -> list[str]:
    """Locals, endpoints and module calls ("local.x", "endpoint.y", "module.z"), each after what it reads.

    A module call also comes after every endpoint of its caller that does not
    itself read the module, because the module's tasks may name those endpoints.
    """
    sections = {"local": "locals", "endpoint": "endpoints", "module": "modules"}
    entries = {f"{kind}.{name}": entry for kind, section in sections.items() for name, entry in module.raw.entries(section).items()}
    known = set(entries)  # once, not per entry: that is quadratic in the number of entries
    deps: dict[str, set[str]] = {}
    for node, entry in entries.items():
        deps[node] = {f"{kind}.{n}" for kind in ("local", "module") for n in references(entry.raw, kind)} & known
    for call in (n for n in entries if n.startswith("module.")):
        for endpoint in (n for n in entries if n.startswith("endpoint.")):
            if call not in _reachable(endpoint, deps):
                deps[call].add(endpoint)
    order: list[str] = []
    state: dict[str, str] = {}  # "visiting" | "done"

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "visiting":
            cycle = trail[trail.index(node):] + [node]
            problems.add(entries[node].at(), f"{' -> '.join(cycle)}: these refer to each other in a cycle; break it")
            for member in cycle:
                _mark_failed(module, member)
            return
        state[node] = "visiting"
        for dep in sorted(deps[node]):
            visit(dep, trail + [node])
        state[node] = "done"
        order.append(node)

    for node in entries:
        visit(node, [])
    return order


def _reachable(start: str, deps: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    pending = [start]
    while pending:
        for dep in deps[pending.pop()]:
            if dep not in seen:
                seen.add(dep)
                pending.append(dep)
    return seen


def _mark_failed(module: ModuleInstance, node: str) -> None:
    kind, _, name = node.partition(".")
    if kind == "local":
        module.failed_locals.add(name)
    elif kind == "module":
        module.failed_children.add(name)
    else:
        module.endpoints[name] = FAILED


def _evaluate_local(module: ModuleInstance, name: str, problems: Problems) -> None:
    if name in module.failed_locals:
        return
    entry = module.raw.entries("locals")[name]
    errors: list[tuple[AttributePath, str | None]] = []
    value, tainted = render_tree(entry.raw, module.scope(), errors)
    _report(errors, entry, problems)
    if errors:
        module.failed_locals.add(name)
        return
    module.locals[name] = value
    if tainted:
        module.tainted_locals.add(name)


def _render_valid(model: type[M], entry: Entry, module: "ModuleInstance",
                  problems: Problems) -> tuple[M, set[AttributePath]] | None:
    """The entry rendered with the module's scope and validated as `model`, with its tainted paths;
    None when either step reported problems."""
    value, _, tainted = _render_and_validate(model, entry, module, problems)
    return None if value is None else (value, tainted)


def _render_and_validate(model: type[M], entry: Entry, module: "ModuleInstance",
                         problems: Problems) -> tuple[M | None, Any, set[AttributePath]]:
    """(the valid model or None, the rendered value, its tainted paths), reporting the problems of both steps.

    A value that failed to render is None in the rendered tree, so it is not validated (its problem is known).
    """
    errors: list[tuple[AttributePath, str | None]] = []
    rendered, tainted = render_tree(entry.raw, module.scope(), errors)
    _report(errors, entry, problems)
    if errors:
        return None, rendered, tainted
    return validate_entry(model, rendered, entry, problems, tainted=tainted), rendered, tainted


def _evaluate_call(module: ModuleInstance, name: str, problems: Problems, call_stack: tuple[Path, ...]) -> None:
    if name in module.failed_children:
        return
    entry = module.raw.entries("modules")[name]
    module.failed_children.add(name)  # until it succeeds
    valid = _render_valid(ModuleCall, entry, module, problems)
    if valid is None:
        return
    call, tainted = valid
    folder = resolve_module_source(call.source, module.raw.folder, module.environ)
    if folder is None:
        searched = ", ".join(str(p) for p in module_search_path(module.environ))
        problems.add(entry.at(("source",)), f"module source `{call.source}` not found: not a folder under {module.raw.folder} nor a module in {searched}")
        return
    if folder in call_stack:
        problems.add(entry.at(("source",)), f"module `{name}` calls {folder} which is already being evaluated; modules cannot call themselves")
        return
    raw = read_module(folder, problems)
    if not raw.files:
        problems.add(entry.at(("source",)), f"no {DECLARATION_GLOB} files in {folder}; a module is a folder of declaration files")
        return
    given = {
        key: Assignment(value, entry.at(("inputs", key)), f"module.{name} inputs", tainted=any(p[:2] == ("inputs", key) for p in tainted))
        for key, value in call.inputs.items()
    }
    module.children[name] = evaluate_module(
        raw,
        prefix=f"{module.prefix}module.{name}.",
        workspace=module.workspace,
        given=given,
        how_to_set=f"set it in `inputs` of module `{name}` at {entry.at()}",
        environ=module.environ,
        problems=problems,
        parent=module,
        call_stack=(*call_stack, module.raw.folder.resolve(), folder),
    )
    module.module_calls[name] = call
    module.failed_children.discard(name)


def _evaluate_endpoint(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    if entry.name in module.endpoints:  # failed in a reference cycle
        return
    module.endpoints[entry.name] = FAILED  # until it succeeds
    valid = _render_valid(Endpoint, entry, module, problems)
    if valid is None:
        return
    endpoint, tainted = valid
    if endpoint.engine == "sqlite" and endpoint.path:
        endpoint = endpoint.model_copy(update={"path": str((module.raw.folder / Path(endpoint.path).expanduser()).resolve())})
    attributes = endpoint.model_dump()
    secret = {p for p in tainted if p and p[0] in attributes} | {("password",)}
    module.endpoints[entry.name] = ResolvedEndpoint(entry.name, attributes, frozenset(secret), endpoint)


_TASK_ENDPOINTS: tuple[AttributePath, ...] = (("source",), ("destination",), ("deliver_to", "endpoint"))


def _evaluate_task(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    task, rendered, tainted = _render_and_validate(Task, entry, module, problems)
    if task is None:  # the endpoints it names are still checked, so that `validate` lists every problem
        _endpoints_of(module, entry, {path: _text_at(rendered, path) for path in _TASK_ENDPOINTS}, problems)
        return
    module.tasks[entry.name] = task
    names = dict(zip(_TASK_ENDPOINTS, (task.source, task.destination, task.deliver_to.endpoint if task.deliver_to else None)))
    ends = _endpoints_of(module, entry, names, problems)
    source, destination, delivery = ends
    if delivery is not None:
        problem = delivery_problem(delivery)
        if problem:
            problems.add(entry.at(("deliver_to", "endpoint")), f"task.{entry.name}: {problem}")
    if source is not None:
        problem = object_problem(task.objects, source)
        if problem:
            problems.add(entry.at(("objects",)), f"task.{entry.name}: {problem}")
    if any(name is not None and end is None for name, end in zip(names.values(), ends)):
        return
    module.task_resources[entry.name] = task_resource(
        f"{module.prefix}task.{entry.name}", entry.name, task, (source, destination), tainted, None, (), entry.at(),
        module.workspace, delivery)


def _evaluate_topology(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    topology, rendered, tainted = _render_and_validate(Topology, entry, module, problems)
    if topology is None:  # the endpoints it names are still checked, so that `validate` lists every problem
        listed = _text_at(rendered, ("endpoints",), list) or []
        _endpoints_of(module, entry, {("endpoints", i): n for i, n in enumerate(listed) if isinstance(n, str)}, problems)
        return
    module.topologies[entry.name] = topology
    found = _endpoints_of(module, entry, {("endpoints", i): n for i, n in enumerate(topology.endpoints)}, problems)
    resolved = {end.name: end for end in found if end is not None}
    if len(resolved) != len(set(topology.endpoints)):
        return
    found_problems = topology_problems(entry.name, topology, {n: e.attributes["engine"] for n, e in resolved.items()},
                                       frozenset(n for n, e in resolved.items() if e.attributes.get("cluster")))
    for path, message in found_problems:
        problems.add(entry.at(path), message)
    if found_problems:
        return
    objects_problem = object_problem(topology.objects, resolved[topology.endpoints[0]])
    if objects_problem:
        problems.add(entry.at(("objects",)), f"topology.{entry.name}: {objects_problem}")
    base = f"{module.prefix}topology.{entry.name}.task."
    expanded: dict[str, DesiredResource] = {}
    for planned in expand_topology(topology):
        ends = (resolved[planned.task.source], resolved[planned.task.destination or ""])
        marker = {"name": entry.name, "type": topology.type, "peer": base + planned.peer if planned.peer else None}
        shared_taint = {p for p in tainted if p and p[0] != "endpoints"}
        expanded[planned.name] = task_resource(
            base + planned.name, planned.name, planned.task, ends, shared_taint, marker,
            tuple(base + d for d in planned.depends_on), entry.at(), module.workspace,
        )
    module.topology_resources[entry.name] = expanded


def _declare_output(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    raw = entry.raw
    if isinstance(raw, dict) and "value" in raw and set(raw) <= _OUTPUT_KEYS:
        sensitive = raw.get("sensitive", False)
        if not isinstance(sensitive, bool):
            problems.add(entry.at(("sensitive",)), f"output.{entry.name}: `sensitive` must be true or false")
            sensitive = True
        module.outputs[entry.name] = _Output(entry, raw["value"], ("value",), sensitive)
    else:
        module.outputs[entry.name] = _Output(entry, raw, (), False)


def _endpoints_of(
    module: ModuleInstance, entry: Entry, names: dict[AttributePath, str | None], problems: Problems
) -> list[ResolvedEndpoint | None]:
    """The endpoints named at these paths, reporting an unknown one; None for no name, an unknown
    endpoint, or one that failed its own checks (reported there)."""
    resolved: list[ResolvedEndpoint | None] = []
    for path, name in names.items():
        found = module.find_endpoint(name) if name is not None else None
        if name is not None and found is None:
            known = sorted({n for m in _lineage(module) for n in m.endpoints})
            problems.add(entry.at(path), f"{entry.address}: unknown endpoint `{name}`; declared endpoints are {known or 'none'}")
        resolved.append(found if isinstance(found, ResolvedEndpoint) else None)
    return resolved


def _text_at(tree: Any, path: AttributePath, kind: type = str) -> Any:
    """The value at `path` in a rendered tree when it is a `kind`, else None (absent, or of another kind)."""
    for key in path:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree if isinstance(tree, kind) else None


def _lineage(module: ModuleInstance) -> list[ModuleInstance]:
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


def _report(errors: list[tuple[AttributePath, str | None]], entry: Entry, problems: Problems) -> None:
    for path, message in errors:
        if message is not None:
            problems.add(entry.at(path), f"{entry.address}: {message}")

