"""Document changes and change-log records, as engine-neutral JSON.

Documents travel in the connector's packed form (a JSON string, exact for every
type of the engine), produced and read back by the connector; `_id`s as canonical
Extended JSON. The engine only routes changes by database, collection and `_id`. One `Record` is one source transaction (or one
change outside a transaction, or one full-copy chunk), so a record is applied
whole and the position after it always lies on a transaction boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from dtsctl.engine.events import Position

Document = str  # packed by the connector (connectors/mongodb/codec.py)
ChangeOp = Literal["insert", "replace", "update", "delete", "ddl"]
DdlKind = Literal["create", "drop", "rename", "create_indexes", "drop_indexes", "drop_database"]

# Control records
COPY_BEGIN = "copy_begin"  # {"collections": {"db.coll": {"estimate": n, "schema": {...}}}, "data": bool}
COPY_END = "copy_end"
_CONTROL_MARK = "#"


@dataclass(frozen=True)
class DocumentChange:
    """One change of one document (or one DDL event) at the source, under source names.

    `document` is the full document after the change (None for a delete, or for an update
    whose document was gone when the change stream looked it up); `before` the pre-image,
    when the collection records them; `ddl` the DDL event's details for op "ddl"."""

    op: ChangeOp
    database: str
    collection: str
    id: Any = None  # the `_id`, canonical Extended JSON
    document: Document | None = None
    before: Document | None = None
    ddl: dict[str, Any] | None = None  # {"kind": DdlKind, "to": [db, coll], "options": ..., "indexes": [...]}

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"

    def renamed(self, database: str, collection: str) -> "DocumentChange":
        return replace(self, database=database, collection=collection)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "db": self.database, "c": self.collection, "id": self.id,
                                "doc": self.document}
        if self.before is not None:
            data["b"] = self.before
        if self.ddl is not None:
            data["ddl"] = self.ddl
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DocumentChange":
        return cls(op=data["op"], database=data["db"], collection=data["c"], id=data["id"], document=data["doc"],
                   before=data.get("b"), ddl=data.get("ddl"))


@dataclass(frozen=True)
class Record:
    """One change-log row: a source transaction's changes, a full-copy chunk, or a control operation.

    `copy`: documents of the full copy (written with insert semantics, never counted as events);
    `replay`: changes that may already be in the copy (read before the stream first caught up
    after it), applied idempotently and never counted as conflicts."""

    changes: tuple[DocumentChange, ...]
    position: Position
    commit_time: float
    copy: bool = False
    replay: bool = False
    control: dict[str, Any] | None = field(default=None)

    def payload(self) -> str:
        if self.control is not None:
            return _CONTROL_MARK + json.dumps(self.control, separators=(",", ":"))
        return json.dumps({"copy": self.copy, "replay": self.replay,
                           "changes": [change.to_json() for change in self.changes]}, separators=(",", ":"))

    @classmethod
    def make_control(cls, op: str, position: Position, commit_time: float, **details: Any) -> "Record":
        return cls((), position, commit_time, control={"op": op, **details})

    @classmethod
    def from_payload(cls, payload: str | bytes, position: Position, commit_time: float) -> "Record":
        text = payload.decode() if isinstance(payload, bytes) else payload
        if text.startswith(_CONTROL_MARK):
            return cls((), position, commit_time, control=json.loads(text[1:]))
        data = json.loads(text)
        return cls(tuple(DocumentChange.from_json(item) for item in data["changes"]), position, commit_time,
                   copy=data["copy"], replay=data["replay"])
