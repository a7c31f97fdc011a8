"""What verify finds, shared by every pipeline, and how it avoids reporting changes still in flight.

A pipeline compares its objects in chunks and collects the keys whose values differ
between the ends ("suspects"). Replication keeps running meanwhile, so a suspect may only
be a change the applier has not reached yet. `settle` decides each suspect: it waits until
the task's applier has passed the source position at which the source value was read,
reads the destination and the source again, and calls a key different only when the
source value did not change in between and the destination still disagrees with it.
"""

from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, Protocol, Sequence, TypeVar

from dtsctl.engine.changelog import ChangeLog, LogRecord
from dtsctl.engine.events import Position, encode_value
from dtsctl.errors import DtsError

EXAMPLES = 10  # example keys per kind of difference in a report
SETTLE_ROUNDS = 6  # re-checks of a key whose source value keeps changing before giving up on it
APPLIER_WAIT_SECONDS = 120.0

R = TypeVar("R", bound=LogRecord)
Key = Hashable  # a table row's key values as a tuple, or a key-value engine's key (bytes)
Value = Any  # a comparable value; None: the object is absent on that end


@dataclass(frozen=True)
class VerifyOptions:
    """`tables`: source object names to compare (all when empty); `repair`: rewrite what differs;
    `changelog`: the task's change log, whose applier verify waits for (None: no agent runs it)."""

    tables: tuple[str, ...] = ()
    repair: bool = False
    changelog: Path | None = None
    # Compare only the keys of the changes the change log holds after this seq (`ChangeLog.hold_after`
    # kept them): what changed since a full comparison found both ends equal (a cutover's freeze)
    changed_after: int | None = None


class VerifyProgress(Protocol):
    def object_started(self, name: str, estimated: int) -> None: ...

    def advanced(self, count: int) -> None: ...


class NoProgress:
    def object_started(self, name: str, estimated: int) -> None:
        pass

    def advanced(self, count: int) -> None:
        pass


@dataclass
class ObjectReport:
    """The comparison of one selected object (a table, a key-value database) with its destination."""

    table: str  # the source object ("db.table", "db0")
    destination: str  # the destination object
    key_columns: tuple[str, ...] = ()  # names of a row key's values; () for key-value keys
    source_count: int = 0
    destination_count: int | None = 0  # None: the destination object does not exist
    missing: list[Key] = field(default_factory=list)  # on the source only
    extra: list[Key] = field(default_factory=list)  # on the destination only
    different: list[Key] = field(default_factory=list)  # on both, with different values
    changing: list[Key] = field(default_factory=list)  # kept changing at the source through every re-check
    repaired: dict[str, int] | None = None  # with --repair: {"written": n, "deleted": n}

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different)

    @property
    def ok(self) -> bool:
        return self.destination_count is not None and not self.differences

    def record(self, differences: dict[Key, str]) -> None:
        """Add settled differences: key -> "missing" | "extra" | "different"."""
        for key, kind in differences.items():
            getattr(self, kind).append(key)

    def clear_differences(self) -> None:
        self.missing, self.extra, self.different = [], [], []

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "destination": self.destination,
            "equal": self.ok,
            "source_count": self.source_count,
            "destination_count": self.destination_count,
            **{kind: {"count": len(keys), "examples": [self.describe_key(key) for key in keys[:EXAMPLES]]}
               for kind, keys in (("missing", self.missing), ("extra", self.extra),
                                  ("different", self.different), ("changing", self.changing))},
            "repaired": self.repaired,
        }

    def describe_key(self, key: Key) -> Any:
        """A key in JSON: {"column": value} for rows, text for key-value keys."""
        if isinstance(key, bytes):
            try:
                return key.decode()
            except UnicodeDecodeError:
                return {"$b": base64.b64encode(key).decode("ascii")}
        return {name: encode_value(value) for name, value in zip(self.key_columns, key)}  # type: ignore[call-overload]


def chosen(selected: Iterable[str], wanted: Sequence[str]) -> list[str]:
    """The selected objects verify compares: all, or those named in `wanted` (each must be selected)."""
    names = list(selected)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise DtsError(f"--tables names {', '.join(unknown)}, which the task does not select; "
                       f"it selects {', '.join(names) or 'nothing yet'}")
    return [name for name in names if not wanted or name in wanted]


def repair_log(options: VerifyOptions) -> Path:
    """The change log a repair goes through: the running task's, whose applier writes it in order."""
    if options.changelog is None or not options.changelog.exists():
        raise DtsError("--repair writes through the task's own applier, and the task is not running; "
                       "start it (`dtsctl resume` or `dtsctl apply`) and run verify --repair again")
    return options.changelog


def held_payloads(options: VerifyOptions) -> list[str | bytes] | None:
    """The payloads of the change-log records after `options.changed_after`, as stored; None when verify
    compares everything (no such bound, or records are missing: the changed keys cannot be known)."""
    if options.changed_after is None or options.changelog is None:
        return None
    payloads: list[str | bytes] = []
    with opened(options.changelog) as log:
        after, end = options.changed_after, log.last_seq()
        while batch := log.read_raw(after, 1000):
            payloads += [payload for _, _, _, payload in batch]
            after = batch[-1][0]
    if after < end or (payloads and len(payloads) != after - options.changed_after):
        return None  # some were trimmed (the hold lapsed): the changed keys are not all known
    return payloads


@contextlib.contextmanager
def opened(path: Path) -> Iterator[ChangeLog]:
    log = ChangeLog(path)
    try:
        yield log
    finally:
        log.close()


class ApplierWatch:
    """Where a task's applier stands: its checkpoint on the destination names the last change-log
    transaction it applied, and the change log the source position after it."""

    def __init__(self, load_checkpoint: Callable[[], dict[str, Any] | None], changelog: Path | None,
                 order: Callable[[Position], tuple[Any, ...]], describe: Callable[[Position], str]) -> None:
        self._load_checkpoint = load_checkpoint
        self._changelog = changelog
        self._order = order
        self._describe = describe

    @property
    def running(self) -> bool:
        return self._changelog is not None and self._changelog.exists()

    def applied_seq(self) -> int:
        checkpoint = self._load_checkpoint() or {}
        return int(checkpoint.get("applied_seq", 0))

    def wait_past(self, position: Position) -> None:
        """Return once the applier has applied every source change up to `position` (at once when no
        agent runs the task: nothing would apply them)."""
        if not self.running or position is None:
            return
        assert self._changelog is not None
        with opened(self._changelog) as log:
            self._wait(lambda: _reached(log, self.applied_seq(), self._order(position), self._order),
                       f"source position {self._describe(position)}")

    def wait_for_seq(self, seq: int) -> None:
        """Return once the applier has applied change-log transaction `seq`."""
        self._wait(lambda: self.applied_seq() >= seq, f"the repair (change-log transaction {seq})")

    @staticmethod
    def _wait(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + APPLIER_WAIT_SECONDS
        while not done():
            if time.monotonic() > deadline:
                raise DtsError(f"the task's applier did not reach {what} within {APPLIER_WAIT_SECONDS:.0f} s; "
                               "check that the task is running (`dtsctl status`) and try again")
            time.sleep(0.05)


def _reached(log: ChangeLog, applied_seq: int, wanted: tuple[Any, ...],
             order: Callable[[Position], tuple[Any, ...]]) -> bool:
    known, position = log.applied_position(applied_seq)
    return bool(known) and position is not None and order(position) >= wanted


def compare(source: dict[Key, Value], destination: dict[Key, Value]) -> dict[Key, str]:
    """Keys whose values differ, each with how: missing, extra or different."""
    found = {}
    for key in source.keys() | destination.keys():
        mine, theirs = source.get(key), destination.get(key)
        if mine == theirs:
            continue
        found[key] = "missing" if theirs is None else "extra" if mine is None else "different"
    return found


@dataclass
class Suspects:
    """Keys that differed at a first look, with the source values read and the position they were read at."""

    values: dict[Key, Value] = field(default_factory=dict)
    read_at: Position = None

    def add(self, keys: Iterable[Key], source: dict[Key, Value], position: Position,
            order: Callable[[Position], tuple[Any, ...]]) -> None:
        for key in keys:
            self.values[key] = source.get(key)
        if position is not None and (self.read_at is None or order(position) > order(self.read_at)):
            self.read_at = position


def settle(suspects: Suspects, read_source: Callable[[Sequence[Key]], tuple[dict[Key, Value], Position]],
           read_destination: Callable[[Sequence[Key]], dict[Key, Value]], watch: ApplierWatch,
           ) -> tuple[dict[Key, str], list[Key]]:
    """Decide each suspect once the applier has passed where its source value was read: (differences,
    keys whose source value changed through every re-check). A key differs when the destination, read
    after the applier passed the first read, disagrees with a source value that a second read confirms."""
    values, read_at = dict(suspects.values), suspects.read_at
    differences: dict[Key, str] = {}
    for _ in range(SETTLE_ROUNDS):
        if not values:
            return differences, []
        watch.wait_past(read_at)
        keys = list(values)
        destination = read_destination(keys)
        again, read_at = read_source(keys)
        unsettled = {}
        for key in keys:
            first, theirs, now = values[key], destination.get(key), again.get(key)
            if theirs == first or theirs == now:
                continue  # equal as of one of the reads: the applier had it
            if now == first:
                differences.update(compare({key: first}, {key: theirs}))
            else:
                unsettled[key] = now  # changed at the source meanwhile: look again at its new value
        values = unsettled
    return differences, list(values)


def append_repairs(log: ChangeLog, keys: Sequence[Key], batch_size: int,
                   build: Callable[[Sequence[Key], Position], R]) -> tuple[int, list[R]]:
    """Append a repair record per batch of `keys`, each `build(batch, reader position)` made while the
    reader cannot append (`ChangeLog.insert_after_reader`); returns (the last one's seq, the records)."""
    last_seq, records = 0, []
    for start in range(0, len(keys), batch_size):
        batch = keys[start:start + batch_size]
        last_seq, record = log.insert_after_reader(lambda reader_at, batch=batch: build(batch, reader_at))
        records.append(record)
    return last_seq, records


def check_repaired(report: ObjectReport, keys: Sequence[Key], last_seq: int,
                   read_source: Callable[[Sequence[Key]], tuple[dict[Key, Value], Position]],
                   read_destination: Callable[[Sequence[Key]], dict[Key, Value]], watch: ApplierWatch,
                   order: Callable[[Position], tuple[Any, ...]]) -> None:
    """Once the applier has applied the repair up to `last_seq`, compare the repaired keys again: the
    report then says what is left."""
    if not keys:
        return
    watch.wait_for_seq(last_seq)
    again = Suspects()
    source, read_at = read_source(keys)
    again.add(keys, source, read_at, order)
    report.clear_differences()
    differences, changing = settle(again, read_source, read_destination, watch)
    report.record(differences)
    report.changing = sorted({*report.changing, *changing}, key=repr)
