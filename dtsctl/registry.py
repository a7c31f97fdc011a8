"""The engine registry: one line per connector package, each declaring its `EngineSpec`.

Adding an engine: a folder `dtsctl/connectors/<engine>/` whose `__init__.py` sets
`ENGINE = EngineSpec(...)` (dtsctl.engine.plugin), and its package in `_PACKAGES`.
The order of `_PACKAGES` is the order engines are listed in messages.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any, Callable

from dtsctl.engine.plugin import EngineSpec, PipelineKind
from dtsctl.errors import DtsError

_PACKAGES = (
    "dtsctl.connectors.mysql",
    "dtsctl.connectors.redis",
    "dtsctl.connectors.mongodb",
    "dtsctl.connectors.sqlite",
)


@cache
def engines() -> tuple[EngineSpec, ...]:
    """Every engine, in registry order (importing a package's `__init__` loads no driver)."""
    return tuple(importlib.import_module(package).ENGINE for package in _PACKAGES)


def engine_names(where: Callable[[EngineSpec], bool] = lambda _: True) -> tuple[str, ...]:
    return tuple(spec.name for spec in engines() if where(spec))


def engine(name: str) -> EngineSpec:
    for spec in engines():
        if spec.name == name:
            return spec
    raise DtsError(f"unknown engine `{name}`; use one of {', '.join(engine_names())}")


def connector(name: str, pipeline: PipelineKind) -> Any:
    """The engine's connector for `pipeline`, imported only when a task uses it."""
    spec = engine(name)
    if spec.connector is None or spec.pipeline is not pipeline:
        raise DtsError(f"the {name} engine is not available yet in this version of dtsctl")
    return _load(spec.connector)


def stream_target(name: str) -> Callable[[dict[str, Any], str], Any] | None:
    """The class that delivers subscription records to a stream on this engine, if it can hold one."""
    spec = engine(name)
    return _load(spec.stream_target) if spec.stream_target else None


def _load(location: str) -> Any:
    module_name, attribute = location.split(":")
    return getattr(importlib.import_module(module_name), attribute)
