"""Evaluating one module: variables, locals, module calls, endpoints, tasks, topologies, outputs.

Order inside a module: variables are bound first; locals, endpoints and module
calls are evaluated in dependency order (a module call after the caller's
endpoints, which its tasks may name); then tasks and topologies, which may read
all of those; outputs last, since they may also read tasks. Every problem is recorded and evaluation carries on, so
`validate` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dtsctl.config.entries import evaluate_endpoint, evaluate_task, evaluate_topology, render_valid
from dtsctl.config.instance import FAILED, OUTPUT_KEYS, ModuleInstance, Output, OutputValue, report
from dtsctl.config.model import ModuleCall, Variable
from dtsctl.config.modsource import module_search_path, resolve_module_source
from dtsctl.config.problems import Problems
from dtsctl.config.pydantic_problems import validate_entry
from dtsctl.config.reader import DECLARATION_GLOB, Entry, RawModule, read_module
from dtsctl.config.resources import AttributePath
from dtsctl.config.template import references, render_tree
from dtsctl.config.variables import Assignment, bind_variables

__all__ = ["ModuleInstance", "OutputValue", "evaluate_module", "variable_models"]


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
            evaluate_endpoint(module, raw.entries("endpoints")[item], problems)
        else:
            _evaluate_call(module, item, problems, call_stack)
    for entry in raw.entries("tasks").values():
        evaluate_task(module, entry, problems)
    for entry in raw.entries("topologies").values():
        evaluate_topology(module, entry, problems)
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
    report(errors, entry, problems)
    if errors:
        module.failed_locals.add(name)
        return
    module.locals[name] = value
    if tainted:
        module.tainted_locals.add(name)


def _evaluate_call(module: ModuleInstance, name: str, problems: Problems, call_stack: tuple[Path, ...]) -> None:
    if name in module.failed_children:
        return
    entry = module.raw.entries("modules")[name]
    module.failed_children.add(name)  # until it succeeds
    valid = render_valid(ModuleCall, entry, module, problems)
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


def _declare_output(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    raw = entry.raw
    if isinstance(raw, dict) and "value" in raw and set(raw) <= OUTPUT_KEYS:
        sensitive = raw.get("sensitive", False)
        if not isinstance(sensitive, bool):
            problems.add(entry.at(("sensitive",)), f"output.{entry.name}: `sensitive` must be true or false")
            sensitive = True
        module.outputs[entry.name] = Output(entry, raw["value"], ("value",), sensitive)
    else:
        module.outputs[entry.name] = Output(entry, raw, (), False)
