"""Engine name -> connector classes, imported only when a task uses that engine.

Adding an engine: a folder `dtsctl/connectors/<engine>/` with a Source and a Sink
class (dtsctl.engine.interfaces), and one line in `_CONNECTORS`.
"""

from __future__ import annotations

import importlib

from dtsctl.engine.interfaces import Sink, Source
from dtsctl.errors import DtsError

# engine -> (Source "module:Class", Sink "module:Class")
_CONNECTORS: dict[str, tuple[str, str]] = {
    "sqlite": ("dtsctl.connectors.sqlite.source:SqliteSource", "dtsctl.connectors.sqlite.sink:SqliteSink"),
    "mysql": ("dtsctl.connectors.mysql.source:MysqlSource", "dtsctl.connectors.mysql.sink:MysqlSink"),
}
KNOWN_ENGINES = ("mysql", "redis", "mongodb", "sqlite")


def source_class(engine: str) -> type[Source]:
    return _load(engine, 0)  # type: ignore[return-value]


def sink_class(engine: str) -> type[Sink]:
    return _load(engine, 1)  # type: ignore[return-value]


def available(engine: str) -> bool:
    return engine in _CONNECTORS


def _load(engine: str, which: int) -> type:
    if engine not in _CONNECTORS:
        if engine in KNOWN_ENGINES:
            raise DtsError(f"the {engine} engine is not available yet in this version of dtsctl")
        raise DtsError(f"unknown engine `{engine}`; use one of {', '.join(KNOWN_ENGINES)}")
    module_name, class_name = _CONNECTORS[engine][which].split(":")
    return getattr(importlib.import_module(module_name), class_name)
