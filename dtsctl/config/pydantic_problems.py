"""Validating raw values with the pydantic models, reporting at `file:line` in the declaration's words.

Pydantic names types and union branches in its locations (`consumer_groups.list[str][0]`) and
speaks its own language ("Input should be a valid integer"). Each error is translated here into
the key as written, what was given, what the key accepts and the accepted forms (the field's
`examples` in model.py). A union gives one line: the branch the value's shape chose when one
went deeper than the value's type, otherwise the union itself.
"""

from __future__ import annotations

import json
import types
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from dtsctl.config import model as models
from dtsctl.config.problems import Problems
from dtsctl.config.reader import Entry, did_you_mean
from dtsctl.secret_keys import ALWAYS_SENSITIVE_KEYS
from dtsctl.config.resources import AttributePath
from dtsctl.config.yamlsrc import YamlPath

M = TypeVar("M", bound=BaseModel)

# Every key any model accepts: the pool for "did you mean" suggestions.
_KNOWN_KEYS = sorted(
    {
        name
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
        for name in value.model_fields
    }
)
_SECRET_KEYS = ALWAYS_SENSITIVE_KEYS
_SHOWN_LENGTH = 40


def validate_entry(model: type[M], data: Any, entry: Entry, problems: Problems, base: YamlPath = (),
                   tainted: Collection[AttributePath] = ()) -> M | None:
    """`data` (the rendered value of `entry` at `base`) as `model`, or None after reporting every problem.

    Values at `tainted` paths came from something sensitive, so a message never shows them.
    """
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        for issue in _collapse_unions([_locate(model, error) for error in exc.errors()], 0):
            problems.add(entry.at(base + issue.path), issue.message(entry.address, base, tainted))
        return None


@dataclass(frozen=True)
class _Expected:
    """What a place in the model accepts: its type, and the model field it belongs to."""

    annotation: Any
    field: FieldInfo | None = None
    name: str | None = None
    at_field: bool = False  # the place is the field itself, not an item inside it


@dataclass(frozen=True)
class _Issue:
    error: Any  # pydantic's error details
    loc: tuple[Any, ...]
    tags: tuple[int, ...]  # positions in `loc` that name a union branch, not a key
    expected: tuple[_Expected, ...]  # expected[i]: what the value at loc[:i] must be

    @property
    def path(self) -> YamlPath:
        """The place as written in the file: `loc` without branch names."""
        return tuple(part for index, part in enumerate(self.loc) if index not in self.tags and part != "[key]")

    def message(self, address: str, base: YamlPath, tainted: Collection[AttributePath]) -> str:
        kind, path = self.error["type"], base + self.path
        where = _address(address, path)
        expected = self.expected[-1]
        if kind == "extra_forbidden":
            key, parent = str(path[-1]), _address(address, path[:-1])
            if key in _KNOWN_KEYS:
                return f"key `{key}` is not allowed in {parent}; check the indentation: it belongs elsewhere"
            return f"unknown key `{key}` in {parent}{did_you_mean(key, _KNOWN_KEYS)}"
        if kind == "missing":
            return f"{_address(address, path[:-1])}: `{path[-1]}` is required{_example(expected)}"
        if kind == "value_error":
            return f"{where}: {str(self.error['msg']).removeprefix('Value error, ')}"
        if self.loc and self.loc[-1] == "[key]":
            return f"{where}: the key {_shown(path[-1])} must be text; quote it"
        given = self.error["input"]
        secret = expected.name in _SECRET_KEYS or any(_overlaps(path, t) for t in tainted)
        hint = did_you_mean(given, _literal_values(expected.annotation)) if isinstance(given, str) and not secret else ""
        shown = "a sensitive value" if secret else _shown(given)
        return f"{where}: got {shown}{hint}; expected {_accepted(expected)}{_example(expected)}"


def _locate(model: type[BaseModel], error: Any) -> _Issue:
    """Walk pydantic's `loc` through the model's types, noting union branch names and what each place accepts."""
    loc = tuple(error["loc"])
    expected = [_Expected(model)]
    tags = []
    for index, part in enumerate(loc):
        here = expected[-1]
        annotation = _without_none(here.annotation)
        if get_origin(annotation) in (Union, types.UnionType):
            tags.append(index)
            expected.append(_Expected(_branch(annotation, str(part)), here.field, here.name, here.at_field))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            expected.append(_Expected(field.annotation if field else Any, field, str(part), True))
        elif get_origin(annotation) is list:
            expected.append(_Expected(get_args(annotation)[0], here.field, here.name))
        elif get_origin(annotation) is dict:
            key_type, value_type = get_args(annotation)
            expected.append(_Expected(key_type if part == "[key]" else value_type, here.field, here.name))
        else:
            expected.append(_Expected(Any, here.field, here.name))
    return _Issue(error, loc, tuple(tags), tuple(expected))


def _collapse_unions(issues: list[_Issue], level: int) -> list[_Issue]:
    """One issue per union: the deeper branch's issues (recursively), or one for the union itself."""
    unions: dict[tuple[Any, ...], list[_Issue]] = {}
    for issue in issues:
        if len(issue.tags) > level:
            unions.setdefault(issue.loc[: issue.tags[level]], []).append(issue)
    result: list[_Issue] = []
    for issue in issues:  # in pydantic's order, a union where its first issue was
        if len(issue.tags) <= level:
            result.append(issue)
            continue
        prefix = issue.loc[: issue.tags[level]]
        members = unions.pop(prefix, None)
        if members is None:
            continue
        at = len(prefix)
        deeper = next((m for m in members if len(m.loc) > at + 1), None)
        if deeper is not None:
            result.extend(_collapse_unions([m for m in members if m.loc[at] == deeper.loc[at]], level + 1))
        else:
            first = members[0]
            error = {"type": "union", "input": first.error["input"]}
            result.append(_Issue(error, prefix, first.tags[:level], first.expected[: at + 1]))
    return result


def _branch(union: Any, tag: str) -> Any:
    """The member of `union` that pydantic names `tag` (`str`, `list[str]`, `ConsumerGroup`, `literal[...]`)."""
    kind = tag.split("[", 1)[0].lower()
    for member in get_args(union):
        origin = get_origin(member) or member
        name = "literal" if origin is Literal else getattr(origin, "__name__", "").lower()
        if name == kind:
            return member
    return Any


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        return members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007 - built from a tuple
    return annotation


def _accepted(expected: _Expected) -> str:
    """What the place accepts, in words (with the field's bounds when the place is the field itself)."""
    metadata = expected.field.metadata if expected.field is not None and expected.at_field else []
    extra = expected.field.json_schema_extra if expected.field is not None and expected.at_field else None
    if isinstance(extra, dict) and "accepts" in extra:
        return str(extra["accepts"])
    return _describe(_without_none(expected.annotation), metadata)


def _describe(annotation: Any, metadata: list[Any], plural: bool = False) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return ", or ".join(_describe(m, metadata, plural) for m in get_args(annotation) if m is not type(None))
    if origin is Literal:
        values = [str(v) for v in get_args(annotation)]
        return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]
    if origin is list:
        least = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), 0)
        items = _describe(get_args(annotation)[0], [], plural=True)
        return f"a list of {least} or more {items}" if least else f"a list of {items}"
    if origin is dict:
        return f"a mapping of names to {_describe(get_args(annotation)[1], [], plural=True)}"
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        noun = ("whole numbers" if plural else "a whole number") if annotation is int else ("numbers" if plural else "a number")
        return noun + _bounds(metadata)
    if annotation is str:
        return "text values" if plural else "text"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mappings" if plural else f"a mapping of {', '.join(annotation.model_fields)}"
    return "values" if plural else "a value"


def _bounds(metadata: list[Any]) -> str:
    low = next((m.ge for m in metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in metadata if isinstance(m, annotated_types.Le)), None)
    above = next((m.gt for m in metadata if isinstance(m, annotated_types.Gt)), None)
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f", {low} or more"
    if above is not None:
        return f" greater than {above}"
    return ""


def _example(expected: _Expected) -> str:
    """', e.g. `key: form` or `key: other form`' from the field's examples, else ''."""
    if expected.field is None or not expected.field.examples:
        return ""
    return ", e.g. " + " or ".join(f"`{expected.name}: {form}`" for form in expected.field.examples)


def _literal_values(annotation: Any) -> list[str]:
    annotation = _without_none(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [value for member in get_args(annotation) for value in _literal_values(member)]
    return [str(v) for v in get_args(annotation)] if get_origin(annotation) is Literal else []


def _shown(value: Any) -> str:
    """`value` as the user wrote it, shortened: "abc", 5, true, [a, b], an empty list."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (list, dict)):
        if not value:
            return "an empty list" if isinstance(value, list) else "an empty mapping"
        text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True).strip()
    else:
        text = str(value)
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def _overlaps(path: YamlPath, tainted: AttributePath) -> bool:
    """Whether `path` is inside the sensitive value at `tainted`, or holds it."""
    shorter = min(len(path), len(tainted))
    return tuple(path[:shorter]) == tuple(tainted[:shorter])


def _address(address: str, loc: YamlPath) -> str:
    return address + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
