"""Evaluating one declared endpoint, task or topology of a module into resolved endpoints and resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from dtsctl import registry
from dtsctl.config.build import ResolvedEndpoint, delivery_problem, object_problem, task_resource
from dtsctl.config.instance import FAILED, ModuleInstance, lineage, report
from dtsctl.secret_keys import ALWAYS_SENSITIVE_KEYS
from dtsctl.config.model import Endpoint, Task, Topology
from dtsctl.config.problems import Problems
from dtsctl.config.pydantic_problems import validate_entry
from dtsctl.config.reader import Entry
from dtsctl.config.cutover import REVERSE_OF, SUFFIX, freeze_problem, reverse_task
from dtsctl.config.resources import AttributePath, DesiredResource
from dtsctl.config.template import render_tree
from dtsctl.config.topology import expand_topology, topology_problems

M = TypeVar("M")


def render_valid(model: type[M], entry: Entry, module: "ModuleInstance",
                  problems: Problems) -> tuple[M, set[AttributePath]] | None:
    """The entry rendered with the module's scope and validated as `model`, with its tainted paths;
    None when either step reported problems."""
    value, _, tainted = render_and_validate(model, entry, module, problems)
    return None if value is None else (value, tainted)


def render_and_validate(model: type[M], entry: Entry, module: "ModuleInstance",
                         problems: Problems) -> tuple[M | None, Any, set[AttributePath]]:
    """(the valid model or None, the rendered value, its tainted paths), reporting the problems of both steps.

    A value that failed to render is None in the rendered tree, so it is not validated (its problem is known).
    """
    errors: list[tuple[AttributePath, str | None]] = []
    rendered, tainted = render_tree(entry.raw, module.scope(), errors)
    report(errors, entry, problems)
    if errors:
        return None, rendered, tainted
    return validate_entry(model, rendered, entry, problems, tainted=tainted), rendered, tainted


def evaluate_endpoint(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    if entry.name in module.endpoints:  # failed in a reference cycle
        return
    module.endpoints[entry.name] = FAILED  # until it succeeds
    valid = render_valid(Endpoint, entry, module, problems)
    if valid is None:
        return
    endpoint, tainted = valid
    if registry.engine(endpoint.engine).location == "path" and endpoint.path:
        endpoint = endpoint.model_copy(update={"path": str((module.raw.folder / Path(endpoint.path).expanduser()).resolve())})
    # Fields added after tasks were first recorded are absent unless declared, so those tasks plan no change
    attributes = endpoint.model_dump(exclude={name for name in _LATER_FIELDS if getattr(endpoint, name) is None})
    secret = {p for p in tainted if p and p[0] in attributes} | {(key,) for key in ALWAYS_SENSITIVE_KEYS}
    module.endpoints[entry.name] = ResolvedEndpoint(entry.name, attributes, frozenset(secret), endpoint)


_LATER_FIELDS = ("sentinel", "uri", "auth_database", "replica_set", "tls", "replicas")
_TASK_ENDPOINTS: tuple[AttributePath, ...] = (("source",), ("destination",), ("deliver_to", "endpoint"))


def evaluate_task(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    task, rendered, tainted = render_and_validate(Task, entry, module, problems)
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
    if source is not None and task.cutover is not None:
        problem = freeze_problem(task.cutover, registry.engine(source.attributes["engine"]))
        if problem:
            problems.add(entry.at(("cutover",)), f"task.{entry.name}: {problem}")
    if any(name is not None and end is None for name, end in zip(names.values(), ends)):
        return
    address = f"{module.prefix}task.{entry.name}"
    module.task_resources[entry.name] = task_resource(
        address, entry.name, task, (source, destination), tainted, None, (), entry.at(), module.workspace, delivery)
    if task.cutover is not None and task.cutover.reverse and destination is not None and source is not None:
        name = entry.name + SUFFIX
        reverse = task_resource(f"{module.prefix}task.{name}", name, reverse_task(task), (destination, source),
                                tainted, None, (address,), entry.at(), module.workspace)
        reverse.attributes[REVERSE_OF] = address
        module.task_resources[name] = reverse


def evaluate_topology(module: ModuleInstance, entry: Entry, problems: Problems) -> None:
    topology, rendered, tainted = render_and_validate(Topology, entry, module, problems)
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


def _endpoints_of(
    module: ModuleInstance, entry: Entry, names: dict[AttributePath, str | None], problems: Problems
) -> list[ResolvedEndpoint | None]:
    """The endpoints named at these paths, reporting an unknown one; None for no name, an unknown
    endpoint, or one that failed its own checks (reported there)."""
    resolved: list[ResolvedEndpoint | None] = []
    for path, name in names.items():
        found = module.find_endpoint(name) if name is not None else None
        if name is not None and found is None:
            known = sorted({n for m in lineage(module) for n in m.endpoints})
            problems.add(entry.at(path), f"{entry.address}: unknown endpoint `{name}`; declared endpoints are {known or 'none'}")
        resolved.append(found if isinstance(found, ResolvedEndpoint) else None)
    return resolved


def _text_at(tree: Any, path: AttributePath, kind: type = str) -> Any:
    """The value at `path` in a rendered tree when it is a `kind`, else None (absent, or of another kind)."""
    for key in path:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree if isinstance(tree, kind) else None
