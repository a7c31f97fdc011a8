"""What a key-value connector implements for the keyspace pipeline, and the records it emits.

A key-value source (Redis) delivers its snapshot and its change stream on one
replication connection, as commands. The source turns both into `Record`s of
destination commands (already filtered, renamed and in the sink's wire format),
so the change log holds exactly what the applier sends; control records mark
where a snapshot begins and ends and where part of the key space is cleared.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from dtsctl.engine.checkpoint import CheckpointedSink
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import CheckResult, SourceFreeze
from dtsctl.engine.verification import ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.engine.task import TaskSpec

CONTROL_MARK = b"#"

# Control operations
SNAPSHOT_BEGIN = "snapshot_begin"  # {"databases": {source db: {"destination": db, "keys": estimate}}, "reason": str}
SNAPSHOT_END = "snapshot_end"
CLEAR = "clear"  # {"db": destination db, "prefixes": [...] | None}: delete the selection's keys there
SNAPSHOT_BEGIN_PREFIX = CONTROL_MARK + b'{"op": "snapshot_begin"'  # how a stored SNAPSHOT_BEGIN starts


@dataclass(frozen=True)
class Record:
    """One change-log row: destination commands (opaque bytes) or a control operation."""

    data: bytes
    position: Position
    commit_time: float
    keys: tuple[bytes, ...] = ()  # "<db>:<key>" of each key it writes, when a two-way peer needs them

    def payload(self) -> bytes:
        return self.data

    @classmethod
    def control(cls, op: str, position: Position, commit_time: float, **details: Any) -> "Record":
        return cls(CONTROL_MARK + json.dumps({"op": op, **details}).encode(), position, commit_time)


def control_of(payload: bytes) -> dict[str, Any] | None:
    """The control operation a stored payload holds, or None for commands."""
    return json.loads(payload[1:]) if payload[:1] == CONTROL_MARK else None


@dataclass
class Command:
    """One destination command of a batch, with the change-log row it came from."""

    seq: int
    db: int
    args: list[bytes]


_SELECT = b"select"
# A stored payload -> (its commands, SELECTs included; the others per database they run in, the
# payload starting in database 0)
CommandCounter = Callable[[bytes], tuple[int, dict[int, int]]]


class Batch:
    """Whole change-log rows to apply together: raw payloads, counted as they are added; their
    commands are decoded only when asked for (conflict checks, a cluster's routing, a refused
    command). A standalone sink sends the payloads as stored, so a snapshot's batch of thousands
    of RESTOREs is never turned into objects that are counted and dropped."""

    def __init__(self, decode: Callable[[bytes], Iterable[list[bytes]]], count: CommandCounter) -> None:
        self.payloads: list[tuple[int, bytes]] = []
        self.size = 0  # commands, SELECTs included
        self.writes: dict[int, int] = {}  # commands other than SELECT, per database they run in
        self._decode = decode  # the connector's: stored payload -> commands
        self._count = count  # the connector's: stored payload -> (commands, writes per database)
        self._commands: list[Command] | None = None

    def add(self, seq: int, payload: bytes) -> None:
        self.payloads.append((seq, payload))
        self._commands = None
        size, added = self._count(payload)
        self.size += size
        writes = self.writes
        for db, count in added.items():
            writes[db] = writes.get(db, 0) + count

    @property
    def commands(self) -> list[Command]:
        """Every command with the change-log row it came from and its database (SELECTs included)."""
        if self._commands is None:
            self._commands = [Command(seq, db, args) for seq, payload in self.payloads
                              for db, args in self._in_databases(payload)]
        return self._commands

    @commands.setter
    def commands(self, kept: list[Command]) -> None:
        self._commands = kept
        self.size, self.writes = len(kept), {}
        for command in kept:
            if command.args[0].lower() != _SELECT:
                self.writes[command.db] = self.writes.get(command.db, 0) + 1

    def _in_databases(self, payload: bytes) -> Iterator[tuple[int, list[bytes]]]:
        """The commands of a payload, each with the database it runs in (a payload starts in db 0)."""
        db = 0
        for args in self._decode(payload):
            if args[0].lower() == _SELECT:
                db = int(args[1])
            yield db, args


@dataclass
class Applied:
    """What a batch's commands met on the destination."""

    errors: list[str] = field(default_factory=list)  # "CMD key in db N: reply" per refused command
    # (db, key) of commands that found no key where the source had one: it expired on the
    # destination before the source's write reached it
    vanished: list[tuple[int, bytes]] = field(default_factory=list)


class KeyspaceSource(ABC):
    """A replication connection that yields a snapshot, then the change stream, as Records."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.endpoint = spec.source_endpoint
        self.last_heartbeat: float | None = None  # source time in the newest own heartbeat read back
        self.resync_reason: str | None = None  # set by open() when it had to copy everything again

    @abstractmethod
    def check_connection(self) -> None:
        """Raise ConnectionFailure or DtsError saying what to fix."""

    @abstractmethod
    def open(self, position: Position | None, snapshot: bool) -> None:
        """Start replicating after `position` (None: from a new snapshot). `snapshot` False drops
        the snapshot's data (phases without `full`) but still marks where it ends."""

    @abstractmethod
    def read(self, wait_seconds: float) -> tuple[list[Record], Position]:
        """Records that arrived (waiting up to `wait_seconds`), and the position consumed so far."""

    @abstractmethod
    def acknowledge(self, position: Position) -> None:
        """`position` is durable in the change log (called often; the source paces itself)."""

    @property
    @abstractmethod
    def in_snapshot(self) -> bool:
        """True while the snapshot is still arriving."""

    @abstractmethod
    def describe_position(self, position: Position) -> str: ...

    def close(self) -> None:
        """Release connections."""


class Heartbeat(ABC):
    """Writes a timestamp on the source that comes back through its own stream (for lag)."""

    @abstractmethod
    def beat(self) -> bool:
        """Write it now; False when the source does not accept writes (read-only)."""

    @abstractmethod
    def remove(self) -> None: ...

    def close(self) -> None:
        """Release connections."""


class Repairer(ABC):
    """Has the source send a key's current value through its own stream (see the connector)."""

    @abstractmethod
    def request(self, destination_db: int, key: bytes) -> bool:
        """Ask for `key` of the destination database `destination_db`; False when the source refused."""

    def forget(self) -> None:
        """Remove what requests left on the source (teardown)."""

    def close(self) -> None:
        """Release connections."""


class KeyspaceSink(CheckpointedSink):
    """Applies batches of commands with the applier checkpoint, atomically."""

    @abstractmethod
    def apply(self, batch: Batch, checkpoint: dict[str, Any]) -> Applied:
        """Apply the batch and store `checkpoint` in one transaction; a command already applied
        before a crash is never applied again. Returns what individual commands met."""

    @abstractmethod
    def clear(self, db: int, prefixes: Sequence[str] | None) -> int:
        """Delete the keys of the selection in `db` (never dtsctl's own); how many were deleted.
        Idempotent: after a crash it is simply done again before the checkpoint moves past it."""


class KeyspaceConnector(Protocol):
    """What a key-value engine's connector module exposes as `CONNECTOR` (dtsctl.registry)."""

    def source(self, spec: TaskSpec) -> KeyspaceSource: ...

    def sink(self, spec: TaskSpec) -> KeyspaceSink: ...

    def heartbeat(self, spec: TaskSpec) -> Heartbeat: ...

    def precheck(self, spec: TaskSpec) -> list[CheckResult]: ...

    def teardown(self, spec: TaskSpec) -> None: ...

    def verify(self, spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]: ...

    def freeze(self, spec: TaskSpec) -> SourceFreeze: ...

    def source_position(self, spec: TaskSpec) -> Position: ...

    def wait_applied(self, spec: TaskSpec, position: Position, changelog: Path) -> None: ...

    def subscription(self) -> Any:
        """Its support for subscriptions (dtsctl.engine.subscription.pipeline.KeyspaceSubscription)."""

    def repairer(self, spec: TaskSpec) -> "Repairer": ...

    def keys_of(self, args: Sequence[bytes]) -> list[bytes]:
        """The keys a stored command writes."""

    def encode(self, args: Sequence[bytes]) -> bytes:
        """A command as stored in change-log payloads."""

    def decode(self, payload: bytes) -> Iterable[list[bytes]]:
        """The commands of a stored payload, in order (the inverse of `encode`)."""

    def count(self, payload: bytes) -> tuple[int, dict[int, int]]:
        """A stored payload's commands (SELECTs included) and writes per database, without
        decoding them (the applier counts every batch)."""
