"""A record as a consumer sees it: the envelope's fields, with row values back in Python types."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from dtsctl.engine.subscription.envelope import decode_row


@dataclass(frozen=True)
class Record:
    """One record of the stream. `json` is the envelope exactly as stored (docs/subscriptions.md)."""

    seq: int
    op: str  # insert | update | delete | ddl | begin | commit | heartbeat | gap
    object: str | None  # "db.table" for row and ddl records
    xid: int | None  # seq of the transaction's `begin`
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    commit_time: datetime.datetime  # source commit time, UTC
    position: Any  # source position (engine-specific JSON)
    json: str
    _commit: Callable[[int], None] = field(repr=False, compare=False)

    @property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.json)

    def commit(self) -> None:
        """Store this record's seq as the group's offset: the group has processed it and everything before."""
        self._commit(self.seq)

    @classmethod
    def parse(cls, body: str, commit: Callable[[int], None]) -> "Record":
        data = json.loads(body)
        types = data.get("types") or {}
        return cls(
            seq=data["seq"], op=data["op"], object=data["object"], xid=data["xid"],
            before=decode_row(data["before"], types), after=decode_row(data["after"], types),
            commit_time=datetime.datetime.fromisoformat(data["commit_time"]), position=data["position"],
            json=body, _commit=commit,
        )
