"""Two-way loop prevention for documents, with nothing but open-source MongoDB's change events.

Each batch a direction of a pair applies is one destination transaction whose first write is
its marker document (`_id` = the direction's origin tag) in dtsctl's marker collection. A
change stream reports every change of a transaction with that transaction's `lsid` and
`txnNumber`, in order, so the source groups them into one `Record`. The opposite direction's
reader drops a record that contains its peer's marker, and nothing else: a cascade or a
subscription reading the same side still sees every change.
"""

from __future__ import annotations

from dtsctl.engine.documents.changes import Record
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE

MARKER_COLLECTION = "markers"


def is_marker(database: str, collection: str) -> bool:
    return database == BOOKKEEPING_DATABASE and collection == MARKER_COLLECTION


def written_by(record: Record, origin: str) -> bool:
    """True when `record` is a transaction applied by the direction tagged `origin`."""
    return any(is_marker(change.database, change.collection) and change.id == origin for change in record.changes)
