"""Variable values: where they come from, in which order, and their types.

Root module precedence (last wins): declared defaults < `*.dtsvars.yaml` in
name order < `--var-file` in order < `--var` in order. `DTS_VAR_<name>` is used
only for a variable that none of those set. A module's variables are set by
its caller's `inputs` instead.

Values given as text (`--var`, `DTS_VAR_*`) are read like this: a variable of
type `string`, or a sensitive one of type `any`, keeps the text exactly; otherwise `[a, b]`
and `{k: v}` are YAML flow collections, `true`/`false` booleans, `null` null,
decimal numbers numbers, and anything else stays text (so `0123` or `yes` are
never turned into a number or a boolean behind the user's back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dtsctl.config.model import Variable
from dtsctl.config.problems import Location, Problems
from dtsctl.config.yamlsrc import YamlSyntaxError, load_yaml

ENV_PREFIX = "DTS_VAR_"
VARS_FILE_GLOB = "*.dtsvars.yaml"

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


@dataclass(frozen=True)
class Assignment:
    """A value given to a variable, and where it was given."""

    value: Any
    where: Location | None  # None for command-line flags and the environment
    origin: str  # for messages: "--var", "DTS_VAR_x", "prod.dtsvars.yaml", "module input"
    tainted: bool = False  # the value was computed from something sensitive


def parse_text_value(text: str, declared: Variable) -> Any:
    """A `--var`/`DTS_VAR_` text as a value (see the module docstring)."""
    if declared.type == "string" or (declared.sensitive and declared.type == "any"):
        return text
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return yaml.safe_load(stripped)
        except yaml.YAMLError:
            return text
    if stripped in ("true", "false"):
        return stripped == "true"
    if stripped == "null":
        return None
    if _INT.match(stripped):
        return int(stripped)
    if _FLOAT.match(stripped):
        return float(stripped)
    return text


def root_assignments(
    root: Path,
    declared: Mapping[str, Variable],
    var_files: Sequence[Path],
    var_args: Sequence[str],
    environ: Mapping[str, str],
    problems: Problems,
    anchor: Location,
) -> dict[str, Assignment]:
    """Every value given to the root module's variables, precedence applied.

    Problems with `--var` flags have no file of their own: they are reported
    at `anchor` (the root's first declaration file).
    """
    chosen: dict[str, Assignment] = {}
    for path in [*sorted(root.glob(VARS_FILE_GLOB)), *var_files]:
        _read_vars_file(path, declared, chosen, problems)
    for arg in var_args:
        name, sep, text = arg.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.add(anchor, f"--var expects NAME=VALUE, got {arg!r}")
        elif name not in declared:
            problems.add(anchor, f"--var {name}: no variable `{name}` is declared; declare it under `variables:`")
        else:
            chosen[name] = Assignment(parse_text_value(text, declared[name]), None, "--var")
    for name, variable in declared.items():
        key = ENV_PREFIX + name
        if name not in chosen and key in environ:
            chosen[name] = Assignment(parse_text_value(environ[key], variable), None, key)
    return chosen


def bind_variables(
    declared: Mapping[str, Variable],
    declared_at: Mapping[str, Location],
    given: Mapping[str, Assignment],
    problems: Problems,
    how_to_set: str,
) -> tuple[dict[str, Any], set[str], set[str]]:
    """(values, sensitive names, failed names) of a module's variables.

    `how_to_set` completes the message for a missing required variable.
    """
    values: dict[str, Any] = {}
    sensitive: set[str] = set()
    failed: set[str] = set()
    for name, variable in declared.items():
        if name in given:
            assignment = given[name]
            value = assignment.value
            if assignment.tainted:
                sensitive.add(name)
            problem = _type_problem(name, variable, value)
            if problem:
                where = assignment.where or declared_at[name]
                problems.add(where, f"{problem} (set by {assignment.origin})")
                failed.add(name)
                continue
        elif variable.required:
            problems.add(declared_at[name], f"variable `{name}` is required but not set; {how_to_set.format(name=name)}")
            failed.add(name)
            continue
        else:
            value = variable.default
        values[name] = value
        if variable.sensitive:
            sensitive.add(name)
    return values, sensitive, failed


def _read_vars_file(path: Path, declared: Mapping[str, Variable], chosen: dict[str, Assignment], problems: Problems) -> None:
    if not path.is_file():
        problems.add(Location(path, 1), "variables file not found; check the --var-file path")
        return
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as exc:
        problems.add(Location(path, exc.line), exc.message)
        return
    if doc.data is None:
        return
    if not isinstance(doc.data, dict):
        problems.add(doc.at(()), "a variables file must be a mapping of variable names to values")
        return
    for name, value in doc.data.items():
        if name not in declared:
            problems.add(doc.at((name,)), f"no variable `{name}` is declared; declare it under `variables:` or remove it here")
        else:
            chosen[name] = Assignment(value, doc.at((name,)), path.name)


_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "a string"),
    "number": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "list": ((list,), "a list"),
    "map": ((dict,), "a mapping"),
}


def _type_problem(name: str, variable: Variable, value: Any) -> str | None:
    if variable.type == "any" or value is None:
        return None
    kinds, wording = _TYPES[variable.type]
    if isinstance(value, kinds) and not (isinstance(value, bool) and variable.type == "number"):
        return None
    shown = "(sensitive value)" if variable.sensitive else repr(value)
    return f"variable `{name}` must be {wording}, got {shown}"
