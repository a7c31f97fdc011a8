"""What an engine is, as data: the `EngineSpec` each connector package declares.

A connector package (`dtsctl/connectors/<engine>/__init__.py`) sets `ENGINE = EngineSpec(...)`;
`dtsctl.registry` lists the packages. Config validation, topology expansion, subscription
delivery and the runtime read these fields instead of naming engines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PipelineKind(enum.Enum):
    """Which engine pipeline moves a task whose source is this engine."""

    TABLES = "tables"  # rows of keyed tables: dtsctl.engine.tables
    KEY_VALUE = "key-value"  # commands on a key space: dtsctl.engine.keyspace
    DOCUMENT = "document"  # documents of collections: dtsctl.engine.documents


class ObjectShape(enum.Enum):
    """What an entry of `objects` selects on this engine."""

    TABLES = "tables"  # a database and its `tables: [...]` or `all: true`
    KEYS = "keys"  # a database number, optionally narrowed by `key_prefixes`
    COLLECTIONS = "collections"  # a database and its `collections`


LINKS = frozenset({"one-way", "one-to-many", "cascade"})  # topologies of one-way links: any engine
WITH_TWO_WAY = LINKS | {"two-way"}  # for engines whose readers recognise their peer's tagged writes


@dataclass(frozen=True)
class EngineSpec:
    name: str
    pipeline: PipelineKind
    objects: ObjectShape
    location: str = "host"  # the endpoint field that says where it is: "host" or "path" (a file)
    sentinel: bool = False  # an endpoint may name a Sentinel-managed master instead of its `host`
    uri: bool = False  # an endpoint may give a connection string (`uri`) instead of its `host`
    replicas: bool = False  # an endpoint may list `replicas` (host:port) that may be promoted in its place
    topologies: frozenset[str] = LINKS  # the topology types its endpoints can be linked in
    subscription_source: bool = True
    # "module:attribute" of the connector the pipeline plugs in (dtsctl.engine.tables.interfaces.TableConnector
    # or dtsctl.engine.keyspace.interfaces.KeyspaceConnector); None: the engine is not available yet
    connector: str | None = None
    # "module:Class" of the stream target subscriptions deliver to (`deliver_to`); None: it cannot hold one
    stream_target: str | None = None
    # How a cutover freezes writes on a source of this engine, in the plan's words; None: it cannot
    freeze: str | None = None
    freeze_lasts: bool = True  # whether the source can stay frozen after the cutover
