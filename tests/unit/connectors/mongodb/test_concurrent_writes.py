"""The same document written on both sides of a two-way pair at once, found as MySQL and Redis
find it (dtsctl.engine.peer_writes), with change events in the manual's shape and no server.

Side A and side B; the forward direction reads A and applies to B, the reverse reads B. B wrote
document k before the forward's change of k reached it: the forward's change is a conflict. A
change of k made on A after the reverse's write had reached A (its marker's `applied` says
so) is not."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from dtsctl.connectors.mongodb.codec import readable
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.conflicts import ConflictPolicy, Conflicts
from dtsctl.engine.documents.applier import DocumentApplier
from dtsctl.engine.documents.changes import DocumentChange, Record
from dtsctl.engine.documents.interfaces import DocumentSource
from dtsctl.engine.documents.loop import MARKER_COLLECTION
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE, Selection
from dtsctl.engine.documents.reader import DocumentReader
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import ConflictCounts, Position
from dtsctl.engine.origin import PairTags
from dtsctl.engine.peer_writes import PeerWrites
from dtsctl.engine.progress import Progress
from dtsctl.engine.throttle import Throttle
from tests.unit.connectors.mongodb.test_loop_filter import event, read, source
from tests.unit.engine.documents.test_applier import Recording

FORWARD, REVERSE = "tag-forward", "tag-reverse"
OBJECTS = ({"database": "shop", "collections": ["orders"]},)


def marker(n: int, tag: str, applied: int, txn: tuple[int, int]) -> dict[str, Any]:
    """The replace event of a direction's marker: a replacement's event carries the document whole."""
    replaced = event(n, "replace", BOOKKEEPING_DATABASE, MARKER_COLLECTION, tag, txn=txn)
    replaced["fullDocument"] = {"_id": tag, "applied": str(applied)}
    return replaced


class Replayed(DocumentSource):
    """A source handing the records a MongoSource made of `events` to the real reader loop, once."""

    def __init__(self, reader: MongoSource, events: list[dict[str, Any]], halt: threading.Event) -> None:
        self._records = read(reader, events)
        self._position = reader._snapshot()
        self._halt = halt

    def check_connection(self) -> None: ...

    def open(self, position: Position | None, copy: bool) -> None: ...

    def read(self, wait_seconds: float) -> tuple[list[Record], Position]:
        records, self._records = self._records, []
        if not records:
            self._halt.set()
        return records, self._position

    def describe_position(self, position: Position) -> str:
        return ""


def read_side(tmp: Path, name: str, tags: PairTags, events: list[dict[str, Any]]) -> Path:
    """A direction's reader over `events` into its own change log; the log's path."""
    path = tmp / f"pair.{name}" / "changelog.db"
    path.parent.mkdir()
    reader = DocumentReader(lambda: None, path, Progress(), threading.Event(), copy=False,  # type: ignore[arg-type,return-value]
                            dropped_origin=tags.peer, readable=readable)
    with contextlib.closing(ChangeLog(path)) as changelog:
        reader._loop(Replayed(source(tags), events, reader._halt), changelog)
    return path


class Flagged(Recording):
    """Also keeps which changes arrive with their conflict already resolved."""

    def apply(self, changes: Sequence[DocumentChange], replay: bool, conflicts: Conflicts,
              checkpoint: Callable[[ConflictCounts], dict[str, Any]]) -> ConflictCounts:
        self.calls.append(("forced", [change.id for change in changes if change.replay]))
        return super().apply(changes, replay, conflicts, checkpoint)


def forward_applies(tmp_path: Path, policy: ConflictPolicy) -> tuple[Flagged, Checkpoint]:
    reverse_log = read_side(tmp_path, "reverse", PairTags(own=REVERSE, peer=FORWARD), [
        event(1, "update", "shop", "orders", "k"),  # B's own write of k: seq 1 of the reverse's log
        marker(2, FORWARD, 0, txn=(9, 1)), event(3, "update", "shop", "orders", "x", txn=(9, 1))])  # dropped
    forward_log = read_side(tmp_path, "forward", PairTags(own=FORWARD, peer=REVERSE), [
        event(1, "update", "shop", "orders", "k"),  # made on A before B's write of k reached it: a conflict
        event(2, "insert", "shop", "orders", "other"),
        marker(3, REVERSE, 1, txn=(7, 1)), event(4, "update", "shop", "orders", "k", txn=(7, 1)),  # B's k, applied
        event(5, "delete", "shop", "orders", "k")])  # made on A after B's write had reached it: no conflict
    sink = Flagged(transactional=True)
    cp = Checkpoint(tables={"shop.orders": TableProgress(destination="shop.orders", schema_done=True,
                                                         copy_done=True)})
    with contextlib.closing(ChangeLog(forward_log)) as changelog:
        applier = DocumentApplier(sink, changelog, Selection(OBJECTS), Throttle(0, 0, threading.Event()), Conflicts(policy),
                                  create_schema=False, peer=PeerWrites(reverse_log))
        while applier.apply_next(cp):
            pass
        applier.peer.close()  # type: ignore[union-attr]
    return sink, cp


def applied(sink: Flagged) -> list[Any]:
    return [item for kind, changes in sink.calls if kind == "apply" for item in changes]


def test_under_ignore_the_concurrent_change_is_dropped_and_counted(tmp_path):
    sink, cp = forward_applies(tmp_path, ConflictPolicy.IGNORE)
    assert applied(sink) == [("insert", "shop.orders", "other"), ("delete", "shop.orders", "k")]
    assert cp.conflicts.as_dict() == {"insert": 0, "update": 1, "delete": 0}
    assert sink.checkpoints[-1]["conflicts"]["update"] == 1, "the count is committed with the batch"


def test_under_overwrite_it_is_applied_as_an_upsert_and_counted(tmp_path):
    sink, cp = forward_applies(tmp_path, ConflictPolicy.OVERWRITE)
    assert applied(sink)[0] == ("update", "shop.orders", "k")
    assert ("forced", ["k"]) in sink.calls and cp.conflicts.update == 1


def test_under_fail_the_task_stops_naming_the_document(tmp_path):
    with pytest.raises(FatalError, match='update of shop.orders _id "k" was also written on the destination'):
        forward_applies(tmp_path, ConflictPolicy.FAIL)


def test_the_reader_keeps_the_keys_and_how_far_its_source_had_received_the_peer(tmp_path):
    path = read_side(tmp_path, "forward", PairTags(own=FORWARD, peer=REVERSE), [
        event(1, "insert", "shop", "orders", "a"), marker(2, REVERSE, 5, txn=(7, 1)),
        event(3, "insert", "shop", "orders", "b")])
    with contextlib.closing(ChangeLog(path)) as changelog:
        rows = changelog.read_raw(0, 10)
        assert [position["peer_seen"] for _, position, _, _ in rows] == [0, 5]
        assert changelog.reader_position()[1]["peer_seen"] == 5, "a restart continues from it"
        assert set(changelog.local_writes_after(0, [b'shop.orders:["a"]', b'shop.orders:["b"]'])) == {
            b'shop.orders:["a"]', b'shop.orders:["b"]'}
