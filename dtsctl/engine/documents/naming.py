"""Which source collections a task selects, and what they are called on the destination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

BOOKKEEPING_DATABASE = "dtsctl"  # dtsctl's own collections on an endpoint: never selected, never copied


@dataclass(frozen=True)
class Selection:
    """The task's `objects` for documents: databases, optional collections, renames and filters."""

    objects: tuple[dict[str, Any], ...]

    def _entry(self, database: str) -> dict[str, Any] | None:
        return next((entry for entry in self.objects if str(entry["database"]) == database), None)

    @property
    def databases(self) -> list[str]:
        return [str(entry["database"]) for entry in self.objects]

    def collections(self, database: str) -> list[str] | None:
        """The collections selected in `database`; None: all of them."""
        entry = self._entry(database)
        return None if entry is None else entry.get("collections")

    def wanted(self, database: str, collection: str) -> bool:
        if database == BOOKKEEPING_DATABASE or collection.startswith("system."):
            return False
        entry = self._entry(database)
        if entry is None:
            return False
        return entry.get("collections") is None or collection in entry["collections"]

    def destination_database(self, database: str) -> str:
        renamed = (self._entry(database) or {}).get("rename")
        return str(renamed) if renamed is not None else database

    def destination(self, database: str, collection: str) -> tuple[str, str]:
        entry = self._entry(database) or {}
        return self.destination_database(database), (entry.get("collection_rename") or {}).get(collection, collection)

    def filter(self, database: str, collection: str) -> str | None:
        """The collection's filter as declared (a MongoDB query document in JSON), if any."""
        entry = self._entry(database) or {}
        return (entry.get("filter") or {}).get(collection)

    def writes_ops(self, database: str) -> Sequence[str]:
        return (self._entry(database) or {}).get("dml") or ("insert", "update", "delete")

    def forwards_ddl(self, database: str) -> bool:
        return bool((self._entry(database) or {}).get("ddl", True))
