"""The MongoDB sink: batches of changes with the checkpoint, in one transaction where the server has them.

The checkpoint lives in dtsctl's bookkeeping collection (`dtsctl.checkpoints`, one document per
task). A direction of a two-way pair first writes its marker (`dtsctl.markers`, `_id` = its
origin tag) in the same transaction, which is how the opposite reader recognises the whole
transaction (dtsctl.engine.documents.loop).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from pymongo import DeleteOne, ReplaceOne
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from dtsctl.connectors.mongodb import schema
from dtsctl.connectors.mongodb.client import check, connect, failures, is_transactional
from dtsctl.connectors.mongodb.codec import from_ejson, unpack
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.documents.changes import DocumentChange
from dtsctl.engine.documents.interfaces import DocumentSink
from dtsctl.engine.documents.loop import MARKER_COLLECTION
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import ConflictCounts, RowChange
from dtsctl.engine.task import TaskSpec

CHECKPOINTS = "checkpoints"
DUPLICATE_KEY = 11000
# DDL that finds its work done already: NamespaceNotFound, IndexNotFound, NamespaceExists
_ALREADY_DONE = (26, 27, 48)


class MongoSink(DocumentSink):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.client = connect(self.endpoint)
        self._transactional: bool | None = None

    @property
    def transactional(self) -> bool:
        if self._transactional is None:
            self._transactional = is_transactional(check(self.client, self.endpoint))
        return self._transactional

    def check_connection(self) -> None:
        check(self.client, self.endpoint)

    @property
    def _checkpoints(self) -> Any:
        return self.client[BOOKKEEPING_DATABASE][CHECKPOINTS]

    # -- checkpoint ---------------------------------------------------------------------
    def load_checkpoint(self) -> dict[str, Any] | None:
        with failures(self.endpoint, "read the checkpoint from"):
            found = self._checkpoints.find_one({"_id": self.spec.task_id})
        return None if found is None else json.loads(found["checkpoint"])

    def save_checkpoint(self, checkpoint: dict[str, Any], session: ClientSession | None = None) -> None:
        with failures(self.endpoint, "write the checkpoint to"):
            self._checkpoints.replace_one({"_id": self.spec.task_id},
                                          {"_id": self.spec.task_id, "checkpoint": json.dumps(checkpoint)},
                                          upsert=True, session=session)

    def delete_checkpoint(self) -> None:
        with failures(self.endpoint, "remove the checkpoint from"):
            self._checkpoints.delete_one({"_id": self.spec.task_id})
            if self.spec.origin is not None:
                self.client[BOOKKEEPING_DATABASE][MARKER_COLLECTION].delete_one({"_id": self.spec.origin})

    # -- schema and copy ----------------------------------------------------------------
    def create_collection(self, database: str, collection: str, collection_schema: dict[str, Any]) -> None:
        with failures(self.endpoint, "create collections on"):
            schema.create(self.client[database], collection, collection_schema)

    def copy(self, changes: Sequence[DocumentChange], keep_existing: bool, checkpoint: dict[str, Any]) -> None:
        with failures(self.endpoint, "copy to"):
            by_collection: dict[tuple[str, str], list[Any]] = {}
            for change in changes:
                by_collection.setdefault((change.database, change.collection), []).append(unpack(change.document))
            for (database, collection), documents in by_collection.items():
                self._insert_unordered(self.client[database][collection], documents, keep_existing)
            self.save_checkpoint(checkpoint)

    @staticmethod
    def _insert_unordered(target: Any, documents: list[Any], keep_existing: bool) -> None:
        try:
            target.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            other = [error for error in errors if error.get("code") != DUPLICATE_KEY]
            if other:
                raise FatalError(f"the destination refused documents of {target.full_name}: "
                                 f"{other[0].get('errmsg')}") from None
            if not keep_existing:
                target.bulk_write([ReplaceOne({"_id": documents[error["index"]]["_id"]}, documents[error["index"]])
                                   for error in errors], ordered=False)

    # -- changes ------------------------------------------------------------------------
    def apply(self, changes: Sequence[DocumentChange], replay: bool, conflicts: Conflicts,
              checkpoint: Callable[[ConflictCounts], dict[str, Any]]) -> ConflictCounts:
        with failures(self.endpoint, "apply changes to"):
            if not self.transactional:
                counts = self._write(changes, replay, conflicts, None)
                self.save_checkpoint(checkpoint(counts))
                return counts
            with self.client.start_session() as session, session.start_transaction():
                counts = self._write(changes, replay, conflicts, session)
                self.save_checkpoint(checkpoint(counts), session)
            return counts

    def _write(self, changes: Sequence[DocumentChange], replay: bool, conflicts: Conflicts,
               session: ClientSession | None) -> ConflictCounts:
        counts = ConflictCounts()
        if self.spec.origin is not None:  # first, so the peer's reader knows the transaction from its start
            self.client[BOOKKEEPING_DATABASE][MARKER_COLLECTION].update_one(
                {"_id": self.spec.origin}, {"$inc": {"batches": 1}}, upsert=True, session=session)
        if replay:
            self._write_idempotent(changes, session)
            return counts
        for change in changes:
            self._write_one(change, conflicts, counts, session)
        return counts

    def _write_idempotent(self, changes: Sequence[DocumentChange], session: ClientSession | None) -> None:
        """Upsert or delete by _id, in order, one bulk write per run of one collection."""
        run: list[Any] = []
        target = None
        for change in changes:
            collection = self.client[change.database][change.collection]
            if target is not None and collection.full_name != target.full_name:
                target.bulk_write(run, ordered=True, session=session)
                run = []
            target = collection
            key = {"_id": from_ejson(change.id)}
            if change.op == "delete":
                run.append(DeleteOne(key))
            elif change.document is not None:
                run.append(ReplaceOne(key, unpack(change.document), upsert=True))
        if run and target is not None:
            target.bulk_write(run, ordered=True, session=session)

    def _write_one(self, change: DocumentChange, conflicts: Conflicts, counts: ConflictCounts,
                   session: ClientSession | None) -> None:
        """One change that meets an unexpected document (there for an insert, gone for an update or
        delete) goes to the conflict policy."""
        collection = self.client[change.database][change.collection]
        key = {"_id": from_ejson(change.id)}
        document = None if change.document is None else unpack(change.document)
        if change.op == "delete":
            if collection.delete_one(key, session=session).deleted_count == 0:
                conflicts.row(_row_change(change, "delete"), counts)
        elif change.op == "insert":
            try:
                collection.insert_one(document, session=session)
            except DuplicateKeyError:
                if conflicts.row(_row_change(change, "insert"), counts):
                    collection.replace_one(key, document, session=session)
        elif document is not None:  # update or replace; None: gone since at the source, its delete follows
            if collection.replace_one(key, document, session=session).matched_count == 0:
                if conflicts.row(_row_change(change, "update"), counts):
                    collection.insert_one(document, session=session)

    def apply_ddl(self, change: DocumentChange, checkpoint: dict[str, Any]) -> None:
        ddl = change.ddl or {}
        db = self.client[change.database]
        with failures(self.endpoint, "replay DDL on"):
            try:
                kind = ddl.get("kind")
                if kind == "create":
                    schema.create(db, change.collection, {"options": ddl.get("options") or {}})
                elif kind == "drop":
                    db.drop_collection(change.collection)
                elif kind == "drop_database":
                    self.client.drop_database(change.database)
                elif kind == "rename":
                    to_db, to_coll = ddl["to"]
                    self.client.admin.command("renameCollection", f"{change.database}.{change.collection}",
                                              to=f"{to_db}.{to_coll}")
                elif kind == "create_indexes":
                    schema.create_indexes(db, change.collection, ddl.get("indexes") or [])
                elif kind == "drop_indexes":
                    for name in ddl.get("indexes") or []:
                        db[change.collection].drop_index(name)
            except OperationFailure as exc:
                if exc.code not in _ALREADY_DONE:
                    raise FatalError(f"cannot replay {ddl.get('kind')} on {change.namespace}: "
                                     f"{exc.details.get('errmsg') if exc.details else exc}") from None
            self.save_checkpoint(checkpoint)

    def close(self) -> None:
        self.client.close()


def _row_change(change: DocumentChange, op: str) -> RowChange:
    return RowChange(change.database, change.collection, op, {"_id": change.id}, change.document)  # type: ignore[arg-type]
