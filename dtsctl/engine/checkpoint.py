"""The applier checkpoint: everything the applier needs to resume, stored by the sink.

It is committed in the same destination transaction as the data it describes,
so after any crash the destination and its checkpoint agree.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import ConflictCounts, decode_value, encode_value

if TYPE_CHECKING:
    from dtsctl.engine.task import TaskSpec

log = logging.getLogger(__name__)

VERSION = 1
RESEED = ("re-seed it: destroy the task (for a two-way pair, the topology) and apply it again, copying from the "
          "endpoint that holds the data (for a pair, set initial_sync_from to it; see docs/topologies.md, "
          "Re-seeding a pair)")
CANNOT_FENCE = ("this destination cannot fence a former owner of the task, so the task cannot run on the cluster "
                "runtime (MySQL, MariaDB and standalone Redis destinations can); run it on the local runtime")
FENCED = ("another host took this task over (its ownership revision {newer} is newer than this agent's {own}): "
          "this agent stops without applying anything")
LOST_CHECKPOINT = (
    "the destination no longer holds this task's checkpoint (it was emptied, restored or replaced), and this "
    f"task copies nothing: starting over would skip every change made at the source since it started; {RESEED}"
)


@dataclass
class TableProgress:
    """Full-copy progress of one source table (keyed "db.table" in the checkpoint)."""

    destination: str = ""  # "db.table" it is copied to; a changed rename starts the table over
    schema_done: bool = False
    copy_done: bool = False
    last_key: list[Any] | None = None  # key of the last copied row; the copy resumes after it
    rows_copied: int = 0
    rows_estimated: int = 0
    # Changes at or before this source position (position_order form) may already be in the
    # copy and are applied idempotently; None while copying (everything is idempotent then).
    copy_end: list[Any] | None = None
    # Secondary indexes (the sink's own definitions) created only once the copy is done, as a
    # sorted build is faster than maintaining them row by row; None until the schema phase decides.
    deferred_indexes: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "schema_done": self.schema_done,
            "copy_done": self.copy_done,
            "last_key": None if self.last_key is None else [encode_value(v) for v in self.last_key],
            "rows_copied": self.rows_copied,
            "rows_estimated": self.rows_estimated,
            "copy_end": self.copy_end,
            "deferred_indexes": self.deferred_indexes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TableProgress":
        last_key = data.get("last_key")
        return cls(
            destination=data.get("destination", ""),
            schema_done=data.get("schema_done", False),
            copy_done=data.get("copy_done", False),
            last_key=None if last_key is None else [decode_value(v) for v in last_key],
            rows_copied=data.get("rows_copied", 0),
            rows_estimated=data.get("rows_estimated", 0),
            copy_end=data.get("copy_end"),
            deferred_indexes=data.get("deferred_indexes"),
        )


@dataclass
class Checkpoint:
    """The applier's resume point and the task's lifetime counters."""

    applied_seq: int = 0  # last change-log sequence number applied
    applied_commit_time: float | None = None  # source commit time of the newest applied change
    rows_copied: int = 0
    events_applied: int = 0
    conflicts: ConflictCounts = field(default_factory=ConflictCounts)
    # key-value engines: keys a replicated write found gone, expired on the destination first
    expired_on_destination: int = 0
    tables: dict[str, TableProgress] = field(default_factory=dict)
    precheck_done: bool = False
    # A DDL statement (change-log seq) was about to run when this was saved: on restart it
    # is replayed tolerating "already done" errors, since DDL commits on its own.
    ddl_pending_seq: int | None = None
    # The change log's start is fixed: from now on a lost change log cannot be started afresh.
    stream_started: bool = False
    run: str | None = None  # a scheduled migration's run whose copy this is (runtime/runs.py)
    # A destination without transactions may already hold changes up to this change-log seq (a
    # batch was being applied when this was saved): they are applied again idempotently.
    replay_until_seq: int | None = None
    # The source position (resume tokens, binlog GTID) after the last applied change, so a lost change
    # log resumes the stream from the destination: document engines, and a new owner of a table task
    # on another host in the cluster runtime.
    source_position: Any = None
    # The ownership revision of the cluster runtime's owner that writes this checkpoint: the sink
    # refuses to commit over a newer one (a former owner that was paused or cut off).
    fencing_token: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "applied_seq": self.applied_seq,
            "applied_commit_time": self.applied_commit_time,
            "rows_copied": self.rows_copied,
            "events_applied": self.events_applied,
            "conflicts": self.conflicts.as_dict(),
            "expired_on_destination": self.expired_on_destination,
            "tables": {name: progress.to_json() for name, progress in self.tables.items()},
            "precheck_done": self.precheck_done,
            "ddl_pending_seq": self.ddl_pending_seq,
            "stream_started": self.stream_started,
            "run": self.run,
            "replay_until_seq": self.replay_until_seq,
            "source_position": self.source_position,
            "fencing_token": self.fencing_token,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Checkpoint":
        return cls(
            applied_seq=data.get("applied_seq", 0),
            applied_commit_time=data.get("applied_commit_time"),
            rows_copied=data.get("rows_copied", 0),
            events_applied=data.get("events_applied", 0),
            conflicts=ConflictCounts(**data.get("conflicts", {})),
            expired_on_destination=data.get("expired_on_destination", 0),
            tables={name: TableProgress.from_json(value) for name, value in data.get("tables", {}).items()},
            precheck_done=data.get("precheck_done", False),
            ddl_pending_seq=data.get("ddl_pending_seq"),
            stream_started=data.get("stream_started", False),
            run=data.get("run"),
            replay_until_seq=data.get("replay_until_seq"),
            source_position=data.get("source_position"),
            fencing_token=data.get("fencing_token"),
        )

    def start_run(self, run: str) -> None:
        """A new run of a scheduled migration copies every table again (its tables stay created)."""
        self.run = run
        for table in self.tables.values():
            table.copy_done, table.last_key, table.rows_copied, table.copy_end = False, None, 0, None

    def copy(self) -> "Checkpoint":
        return Checkpoint.from_json(self.to_json())


class CheckpointStore(Protocol):
    def load_checkpoint(self) -> dict[str, Any] | None: ...

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...


class CheckpointedSink(ABC):
    """A destination that keeps a task's checkpoint beside its data (key-value and document sinks)."""

    def __init__(self, spec: "TaskSpec") -> None:
        self.spec = spec
        self.endpoint = spec.destination_endpoint or {}

    @abstractmethod
    def check_connection(self) -> None: ...

    @abstractmethod
    def load_checkpoint(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    @abstractmethod
    def delete_checkpoint(self) -> None:
        """Forget this task's bookkeeping; never touch user data."""

    def fence(self, token: int) -> None:
        """Cluster runtime: as `dtsctl.engine.tables.interfaces.Sink.fence`."""
        raise FatalError(CANNOT_FENCE)

    def close(self) -> None:
        """Release connections."""


class CheckOutcome(Protocol):
    ok: bool
    warning: bool
    message: str


def load_after_precheck(sink: CheckpointStore, run_precheck: Callable[[], Sequence[CheckOutcome]],
                        on_precheck: Callable[[], None] = lambda: None,
                        streamed_before: Callable[[], bool] = lambda: False) -> Checkpoint:
    """The sink's committed checkpoint; a fresh task must pass the precheck first, and only once.

    Raises FatalError naming every failed check (warnings do not fail it), and when the
    destination has no checkpoint although `streamed_before` says this task was already
    streaming into it: a task that copies nothing cannot start over without losing the
    changes made since it started (the destination was emptied, restored or replaced).
    """
    raw = sink.load_checkpoint()
    if raw is None and streamed_before():
        raise FatalError(LOST_CHECKPOINT)
    cp = Checkpoint.from_json(raw) if raw else Checkpoint()
    if not cp.precheck_done:
        on_precheck()
        failures = [check for check in run_precheck() if not check.ok and not check.warning]
        if failures:
            raise FatalError("precheck failed: " + "; ".join(check.message for check in failures))
        cp.precheck_done = True
        sink.save_checkpoint(cp.to_json())
        log.info("precheck passed")
    return cp


def check_fencing(stored: int | None, own: int | None) -> None:
    """Raise FatalError when a newer owner (cluster runtime) already wrote this task's checkpoint."""
    if stored is not None and own is not None and stored > own:
        raise FatalError(FENCED.format(newer=stored, own=own))
