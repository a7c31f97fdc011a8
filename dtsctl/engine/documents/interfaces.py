"""What a document connector implements for the document pipeline.

The source reads both the full copy and the change stream and hands them over as
`Record`s (dtsctl.engine.documents.changes) under source names, filtered by the
collections' filters; the engine renames, drops its peer's writes, and has the sink
apply each batch together with the checkpoint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Protocol, Sequence

from dtsctl.engine.checkpoint import CheckpointedSink
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.documents.changes import DocumentChange, Record
from dtsctl.engine.events import ConflictCounts, Position
from dtsctl.engine.pipeline import CheckResult
from dtsctl.engine.verification import ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.engine.task import TaskSpec


class DocumentSource(ABC):
    """A source endpoint's full copy and change stream, as Records."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    @abstractmethod
    def check_connection(self) -> None:
        """Raise ConnectionFailure or DtsError saying what to fix."""

    @abstractmethod
    def open(self, position: Position | None, copy: bool) -> None:
        """Continue after `position`; None: start afresh, taking the change stream's resume point
        first, then a COPY_BEGIN control, the copy (only with `copy`), COPY_END, and the stream."""

    @abstractmethod
    def read(self, wait_seconds: float) -> tuple[list[Record], Position]:
        """Records that arrived (waiting up to `wait_seconds`) and the position after them."""

    @abstractmethod
    def describe_position(self, position: Position) -> str: ...

    def close(self) -> None:
        """Release connections."""


class DocumentSink(CheckpointedSink):
    """Writes a destination endpoint; each batch and the checkpoint together."""

    @property
    @abstractmethod
    def transactional(self) -> bool:
        """True when a batch and its checkpoint commit in one transaction (a replica set or a
        sharded cluster); otherwise the engine replays what may have been applied before a crash."""

    @abstractmethod
    def create_collection(self, database: str, collection: str, schema: dict[str, Any]) -> None:
        """Create the collection with the source's options and indexes (`schema`, from the
        source's COPY_BEGIN), leaving what already exists."""

    @abstractmethod
    def apply(self, changes: Sequence[DocumentChange], replay: bool, conflicts: Conflicts,
              checkpoint: Callable[[ConflictCounts], dict[str, Any]]) -> ConflictCounts:
        """Apply `changes` (destination names) and store `checkpoint(conflicts met)`, in one
        transaction when `transactional`. With `replay`, every change is idempotent (upsert or
        delete by _id) and meets no conflict, as does a change marked `replay` (its conflict is
        resolved already); otherwise an unexpected document goes to `conflicts.row`. A two-way
        direction also writes its marker (dtsctl.engine.documents.loop), with the checkpoint's
        `applied_seq`, in the same transaction."""

    @abstractmethod
    def copy(self, changes: Sequence[DocumentChange], keep_existing: bool, checkpoint: dict[str, Any]) -> None:
        """Insert full-copy documents (unordered); a document whose _id is already there stays
        with `keep_existing`, else is replaced. Then store `checkpoint`."""

    @abstractmethod
    def apply_ddl(self, change: DocumentChange, checkpoint: dict[str, Any]) -> None:
        """Replay a DDL event (destination names) tolerating "already done", then store `checkpoint`."""


class DocumentConnector(Protocol):
    """What a document engine's connector module exposes as `CONNECTOR` (dtsctl.registry)."""

    def source(self, spec: TaskSpec) -> DocumentSource: ...

    def sink(self, spec: TaskSpec) -> DocumentSink: ...

    def precheck(self, spec: TaskSpec) -> list[CheckResult]: ...

    def teardown(self, spec: TaskSpec) -> None: ...

    def verify(self, spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]: ...

    def readable(self, packed: Any) -> dict[str, Any]:
        """A document as the source packed it (DocumentChange.document), as subscription records show it."""
