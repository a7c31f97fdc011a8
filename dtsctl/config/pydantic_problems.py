"""Validating raw values with the pydantic models, reporting at `file:line`."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dtsctl.config import model as models
from dtsctl.config.problems import Problems
from dtsctl.config.reader import Entry, did_you_mean
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


def validate_entry(model: type[M], data: Any, entry: Entry, problems: Problems, base: YamlPath = ()) -> M | None:
    """`data` (the rendered value of `entry` at `base`) as `model`, or None after reporting every problem."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.add(entry.at(base + loc), describe(error, entry.address, base + loc))
        return None


def describe(error: Any, address: str, loc: YamlPath) -> str:
    """One line for one pydantic error."""
    kind = error["type"]
    where = _path(address, loc[:-1])
    if kind == "extra_forbidden":
        key = str(loc[-1])
        if key in _KNOWN_KEYS:
            return f"key `{key}` is not allowed in {where}; check the indentation: it belongs elsewhere"
        return f"unknown key `{key}` in {where}{did_you_mean(key, _KNOWN_KEYS)}"
    if kind == "missing" and loc:
        return f"{where}: `{loc[-1]}` is required"
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        return f"{_path(address, loc)}: {message}"
    if kind in ("literal_error", "enum"):
        message = f"{message}, got {error['input']!r}"
    return f"{_path(address, loc)}: {message}"


def _path(address: str, loc: YamlPath) -> str:
    return address + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
