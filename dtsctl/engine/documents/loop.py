"""Two-way loop prevention for documents, with nothing but open-source MongoDB's change events.

Each batch a direction of a pair applies is one destination transaction that also writes
its marker document (`_id` = the direction's origin tag) in dtsctl's marker collection. A
change stream reports every change of a transaction with that transaction's `lsid` and
`txnNumber`, in order, so the source groups them into one `Record`. The opposite direction's
reader drops a record that contains its peer's marker, and nothing else: a cascade or a
subscription reading the same side still sees every change.

The marker document also says how far that direction had applied its change log
(`applied`, a string so that it reads the same in any form): the opposite reader keeps the
highest it saw as `peer_seen`, how far its source had received the peer's changes, which
finds writes made on both sides at once (dtsctl.engine.peer_writes).
"""

from __future__ import annotations

from typing import Any, Callable

from dtsctl.engine.documents.changes import Record
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE

MARKER_COLLECTION = "markers"
MARKER_APPLIED = "applied"  # the marker's field: its direction's applied change-log seq, as a string


def is_marker(database: str, collection: str) -> bool:
    return database == BOOKKEEPING_DATABASE and collection == MARKER_COLLECTION


def written_by(record: Record, origin: str) -> bool:
    """True when `record` is a transaction applied by the direction tagged `origin`."""
    return any(is_marker(change.database, change.collection) and change.id == origin for change in record.changes)


def peer_applied(record: Record, origin: str, readable: Callable[[Any], dict[str, Any]]) -> int:
    """The applied seq the marker of direction `origin` carries in `record` (0 when it has none)."""
    applied = [int(readable(change.document).get(MARKER_APPLIED) or 0) for change in record.changes
               if is_marker(change.database, change.collection) and change.id == origin and change.document]
    return max(applied, default=0)
