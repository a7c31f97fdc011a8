"""A document source's DDL as the record envelope's `ddl` (docs/subscriptions.md).

The kinds are the envelope's: a collection is created, dropped or renamed (`create`, `drop`,
`rename`, `new_table` the new collection's name), and an index change alters it (`alter`).
`body` is the server command that repeats the change, as canonical Extended JSON (the MongoDB
manual's `create`, `drop`, `renameCollection`, `createIndexes` and `dropIndexes` commands);
`statement` runs it in mongosh (engine/subscription/envelope.py). A dropped database is
recorded as the drops of its collections, which the server reports before it.
"""

from __future__ import annotations

import json
from typing import Any

from dtsctl.engine.documents.changes import DocumentChange
from dtsctl.engine.events import DdlKind, SchemaChange
from dtsctl.engine.subscription.envelope import MONGODB


def schema_change(change: DocumentChange) -> SchemaChange | None:
    """The envelope's DDL for a document DDL change; None for one that is not recorded."""
    ddl = change.ddl or {}
    found = _command(ddl, change.database, change.collection)
    if found is None:
        return None
    kind, command = found
    new_table = ddl["to"][1] if kind == "rename" else None
    return SchemaChange(kind, json.dumps(command, separators=(", ", ": ")), new_table, dialect=MONGODB)


def _command(ddl: dict[str, Any], database: str, collection: str) -> tuple[DdlKind, dict[str, Any]] | None:
    kind = ddl.get("kind")
    if kind == "create":
        return "create", {"create": collection, **(ddl.get("options") or {})}
    if kind == "drop":
        return "drop", {"drop": collection}
    if kind == "rename":
        to_db, to_coll = ddl["to"]
        return "rename", {"renameCollection": f"{database}.{collection}", "to": f"{to_db}.{to_coll}"}
    if kind == "create_indexes":
        return "alter", {"createIndexes": collection, "indexes": ddl.get("indexes") or []}
    if kind == "drop_indexes":
        return "alter", {"dropIndexes": collection, "index": ddl.get("indexes") or []}
    return None  # drop_database: its collections' drops came first
