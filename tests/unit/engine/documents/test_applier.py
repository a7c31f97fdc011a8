"""The document applier against a real change log and a sink that records what it is asked to write.

What it proves: names are mapped, unselected collections and operations are skipped, a batch
never mixes copy, replay and stream records, and a destination without transactions gets the
batch's extent recorded first, so the batch a crash cut short is applied again as a replay
(idempotently), never as new changes that would meet themselves as conflicts.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.conflicts import ConflictPolicy, Conflicts
from dtsctl.engine.documents.applier import DocumentApplier
from dtsctl.engine.documents.changes import COPY_BEGIN, COPY_END, DocumentChange, Record
from dtsctl.engine.documents.interfaces import DocumentSink
from dtsctl.engine.documents.naming import Selection
from dtsctl.engine.events import ConflictCounts
from dtsctl.engine.throttle import Throttle

OBJECTS = ({"database": "shop", "collections": ["orders", "users"], "rename": "shop2",
            "collection_rename": {"users": "customers"}, "dml": ["insert", "update"]},)


class Recording(DocumentSink):
    """Keeps every call; `crash_on_apply` raises inside the next apply, after the checkpoint intent."""

    def __init__(self, transactional: bool) -> None:
        self._transactional = transactional
        self.calls: list[tuple[str, Any]] = []
        self.checkpoints: list[dict[str, Any]] = []
        self.crash_on_apply = False

    @property
    def transactional(self) -> bool:
        return self._transactional

    def check_connection(self) -> None: ...

    def load_checkpoint(self) -> dict[str, Any] | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoints.append(checkpoint)

    def delete_checkpoint(self) -> None: ...

    def create_collection(self, database: str, collection: str, schema: dict[str, Any]) -> None:
        self.calls.append(("create", f"{database}.{collection}"))

    def apply(self, changes: Sequence[DocumentChange], replay: bool, conflicts: Conflicts,
              checkpoint: Callable[[ConflictCounts], dict[str, Any]]) -> ConflictCounts:
        if self.crash_on_apply:
            self.crash_on_apply = False
            raise RuntimeError("killed mid-batch")
        self.calls.append(("replay" if replay else "apply", [(c.op, c.namespace, c.id) for c in changes]))
        self.save_checkpoint(checkpoint(ConflictCounts()))
        return ConflictCounts()

    def copy(self, changes: Sequence[DocumentChange], keep_existing: bool, checkpoint: dict[str, Any]) -> None:
        self.calls.append(("copy", [(c.namespace, c.id) for c in changes]))
        self.save_checkpoint(checkpoint)

    def apply_ddl(self, change: DocumentChange, checkpoint: dict[str, Any]) -> None:
        self.calls.append(("ddl", (change.namespace, change.ddl)))


def change(op: str, collection: str, _id: str) -> DocumentChange:
    return DocumentChange(op, "shop", collection, id=_id, document=None if op == "delete" else f"packed-{_id}")  # type: ignore[arg-type]


def fill(changelog: ChangeLog) -> None:
    changelog.append([
        Record.make_control(COPY_BEGIN, None, 1.0, collections={"shop.orders": {"estimate": 1}}, data=True),
        Record((change("insert", "orders", "o1"),), None, 1.0, copy=True),
        Record.make_control(COPY_END, None, 1.0),
        Record((change("insert", "orders", "o2"), change("update", "users", "u1")), {"t": 1}, 2.0, replay=True),
        Record((change("insert", "orders", "o3"), change("delete", "orders", "o1"),
                change("insert", "other", "x")), {"t": 2}, 3.0),
        Record((DocumentChange("ddl", "shop", "orders", ddl={"kind": "rename", "to": ["shop", "users"]}),), {"t": 3}, 4.0),
    ], {"t": 3})


def applier(sink: Recording, changelog: ChangeLog) -> DocumentApplier:
    return DocumentApplier(sink, changelog, Selection(OBJECTS), Throttle(0, 0, threading.Event()),
                           Conflicts(ConflictPolicy.FAIL), create_schema=True)


def run(worker: DocumentApplier, cp: Checkpoint) -> None:
    while worker.apply_next(cp):
        pass


def test_names_selection_and_batches(tmp_path) -> None:
    changelog = ChangeLog(tmp_path / "changelog.db")
    fill(changelog)
    sink = Recording(transactional=True)
    cp = Checkpoint()
    run(applier(sink, changelog), cp)
    assert sink.calls == [
        ("create", "shop2.orders"),
        ("copy", [("shop2.orders", "o1")]),
        ("replay", [("insert", "shop2.orders", "o2"), ("update", "shop2.customers", "u1")]),
        ("apply", [("insert", "shop2.orders", "o3")]),  # delete not in `dml`, `other` not selected
        ("ddl", ("shop2.orders", {"kind": "rename", "to": ["shop2", "customers"]})),
    ]
    assert cp.applied_seq == 6 and cp.rows_copied == 1 and cp.tables["shop.orders"].copy_done
    assert cp.source_position == {"t": 3}


def test_without_transactions_a_batch_cut_short_is_applied_again_as_a_replay(tmp_path) -> None:
    changelog = ChangeLog(tmp_path / "changelog.db")
    fill(changelog)
    sink = Recording(transactional=False)
    cp = Checkpoint()
    worker = applier(sink, changelog)
    for _ in range(4):  # up to the replayed record
        worker.apply_next(cp)
    sink.crash_on_apply = True
    try:
        worker.apply_next(cp)  # the stream record: its extent is recorded, then the agent dies
    except RuntimeError:
        pass
    restarted = Checkpoint.from_json(sink.load_checkpoint())
    assert restarted.replay_until_seq == 5 and restarted.applied_seq == 4
    applier(sink, changelog).apply_next(restarted)
    assert sink.calls[-1] == ("replay", [("insert", "shop2.orders", "o3")])
    assert restarted.applied_seq == 5 and restarted.replay_until_seq is None


def test_a_transaction_with_ddl_is_applied_in_order_and_checkpointed_only_at_its_end(tmp_path) -> None:
    changelog = ChangeLog(tmp_path / "changelog.db")
    changelog.append([Record((change("insert", "orders", "a"),
                              DocumentChange("ddl", "shop", "users", ddl={"kind": "create", "options": {}}),
                              change("insert", "users", "u")), {"t": 9}, 1.0)], {"t": 9})
    sink = Recording(transactional=True)
    cp = Checkpoint(tables={"shop.orders": TableProgress(destination="shop2.orders", copy_done=True)})
    applier(sink, changelog).apply_next(cp)
    assert sink.calls == [("replay", [("insert", "shop2.orders", "a")]),
                          ("ddl", ("shop2.customers", {"kind": "create", "options": {}})),
                          ("replay", [("insert", "shop2.customers", "u")])]
    assert [checkpoint["applied_seq"] for checkpoint in sink.checkpoints] == [0, 0, 1], "moved only at the end"
