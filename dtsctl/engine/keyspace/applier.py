"""The keyspace applier: change log -> sink, a batch of whole rows and the checkpoint at a time.

The checkpoint is the engine's `Checkpoint`: `applied_seq`, counters, one
`tables` entry per selected source database ("db0" -> destination "db1") whose
`copy_done` is false while a snapshot is being applied, and `source_position`: the
source's position after the last applied row (a new owner in the cluster runtime
reads the source again from there).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any, Callable, Iterable, Iterator

from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.changelog import ChangeLog, RawRow
from dtsctl.engine.checkpoint import RESEED, Checkpoint, TableProgress
from dtsctl.engine.errors import FatalError
from dtsctl.engine.keyspace.conflicts import ConcurrentWrites
from dtsctl.engine.keyspace.interfaces import (CLEAR, SNAPSHOT_BEGIN, SNAPSHOT_END, Batch, CommandCounter, KeyspaceSink,
                                               Repairer, control_of)
from dtsctl.engine.throttle import Throttle

log = logging.getLogger(__name__)

MAX_ROWS_PER_BATCH = 64
MAX_COMMANDS_PER_BATCH = 20_000
MAX_ERRORS_LOGGED = 10
MAX_VANISHED_LOGGED = 10_000  # keys named in the log; the count in status goes on
_CANNOT_CONTINUE = ("the source can no longer continue its replication stream (it restarted without its data, "
                    "failed over, or its backlog was overwritten)")
REFUSED_RESYNC = (
    f"{_CANNOT_CONTINUE}, and a full resync would first clear the selected keys on the destination, which is the "
    f"other side of a two-way pair: what was written there would be lost; {RESEED}"
)
BROKEN_STREAM = (
    f"{_CANNOT_CONTINUE}, and this task copies nothing: the changes made at the source since it stopped reading "
    f"would be lost; {RESEED}"
)


def destination_name(db: Any, prefixes: list[str] | None) -> str:
    """How a selected database is named in the checkpoint: "db1", or "db1 user:,order:" with key
    prefixes, so that a changed selection is noticed at start."""
    return f"db{db}" + (" " + ",".join(prefixes) if prefixes else "")


def in_snapshot(cp: Checkpoint) -> bool:
    """True before the first snapshot is applied, and while any snapshot is being applied."""
    return not cp.tables or not all(table.copy_done for table in cp.tables.values())


class KeyspaceApplier:
    def __init__(self, sink: KeyspaceSink, changelog: ChangeLog, throttle: Throttle, conflicts: Conflicts,
                 decode: Callable[[bytes], Iterable[list[bytes]]], count: CommandCounter,
                 concurrent: ConcurrentWrites | None = None,
                 repairer: Repairer | None = None) -> None:
        """`concurrent`: set for a direction of a two-way pair; its destination is written on too,
        so the same key may be written on both sides, and a full resync must not clear it.
        `repairer`: asks the source to send again a key that expired on the destination too early."""
        self._sink = sink
        self._repairer = repairer
        self._vanished_logged: set[tuple[int, bytes]] = set()
        self._concurrent = concurrent
        self._changelog = changelog
        self._throttle = throttle
        self._conflicts = conflicts
        self._decode = decode  # the connector's: stored payload -> commands
        self._count_commands = count  # and -> how many commands, per database
        self._errors_logged_at = 0.0

    def apply_next(self, cp: Checkpoint) -> int:
        """Apply the next batch (or one control row); mutate `cp` to what was committed.
        Returns the number of change-log rows applied (0: nothing new)."""
        with self._changelog.reading_raw(cp.applied_seq, MAX_ROWS_PER_BATCH) as rows:
            first = next(rows, None)
            if first is None:
                return 0
            control = control_of(bytes(first[3]))
            if not cp.tables and (control is None or control["op"] != SNAPSHOT_BEGIN):
                # Before its first snapshot a destination has nothing to apply commands to: a
                # destination joining a shared log skips to the snapshot it asked for.
                return self._skip([first, *rows], cp)
            if control is not None:
                self._control(control, first[0], first[1], first[2], cp)
                return 1
            batch, peer_seen, newest, last_position = self._gather(first, rows, cp)
        if self._throttle.limited:
            self._throttle.wait(batch.size, sum(len(p) for _, p in batch.payloads))
        after = cp.copy()
        after.applied_seq = batch.payloads[-1][0]
        after.applied_commit_time = newest
        after.source_position = last_position
        if self._concurrent is not None and not in_snapshot(cp):
            self._concurrent.resolve(batch, peer_seen, after.conflicts)
        self._count(batch, after)
        applied = self._sink.apply(batch, after.to_json())
        cp.__dict__.update(after.__dict__)
        if applied.vanished:
            self._repair(applied.vanished, cp)
        if applied.errors:
            self._report(applied.errors, cp)
        return len(batch.payloads)

    def _gather(self, first: RawRow, rows: Iterator[RawRow],
                cp: Checkpoint) -> tuple[Batch, dict[int, int], float, Any]:
        """The rows of the next batch (up to a control row or MAX_COMMANDS_PER_BATCH), the peer's
        applied seq each was written after, the newest commit time and the last position."""
        batch, newest, last_position = Batch(self._decode, self._count_commands), cp.applied_commit_time or 0.0, None
        peer_seen: dict[int, int] = {}
        for seq, position, commit_time, payload in itertools.chain([first], rows):
            payload = bytes(payload)
            if control_of(payload) is not None or batch.size >= MAX_COMMANDS_PER_BATCH:
                break
            batch.add(seq, payload)
            newest, last_position = max(newest, commit_time), position
            if position and "peer_seen" in position:
                peer_seen[seq] = position["peer_seen"]
        return batch, peer_seen, newest, last_position

    def forget_old_writes(self) -> None:
        """Trim the keys this direction's reader recorded to what the peer may still need."""
        if self._concurrent is not None:
            self._concurrent.forget_own_writes(self._changelog)

    def _skip(self, rows: list[tuple[int, Any, float, Any]], cp: Checkpoint) -> int:
        skipped = []
        for row in rows:
            control = control_of(bytes(row[3]))
            if control is not None and control["op"] == SNAPSHOT_BEGIN:
                break
            skipped.append(row)
        after = cp.copy()
        after.applied_seq, after.source_position = skipped[-1][0], skipped[-1][1]
        self._sink.save_checkpoint(after.to_json())
        cp.__dict__.update(after.__dict__)
        return len(skipped)

    # -- control rows -----------------------------------------------------------------
    def _control(self, control: dict[str, Any], seq: int, position: Any, commit_time: float, cp: Checkpoint) -> None:
        after = cp.copy()
        op = control["op"]
        if op == SNAPSHOT_BEGIN:
            resync, data = bool(cp.tables), control.get("data", True)
            if resync and data and self._concurrent is not None:
                raise FatalError(REFUSED_RESYNC)
            if resync and not data and not in_snapshot(cp):
                raise FatalError(BROKEN_STREAM)
            if resync and data:
                for details in control["databases"].values():
                    deleted = self._sink.clear(details["destination"], details.get("prefixes"))
                    log.info("full resync: cleared %d selected keys in destination db %s",
                             deleted, details["destination"])
            after.tables = {
                f"db{db}": TableProgress(destination=destination_name(details["destination"], details.get("prefixes")),
                                         schema_done=True,
                                         rows_estimated=details.get("keys", 0))
                for db, details in control["databases"].items()
            }
            log.info("applying the %ssnapshot", "new " if resync else "")
        elif op == SNAPSHOT_END:
            for table in after.tables.values():
                table.copy_done = True
            log.info("snapshot applied (%d keys in all); applying the stream", after.rows_copied)
        elif op == CLEAR:
            deleted = self._sink.clear(control["db"], control.get("prefixes"))
            log.warning("cleared %d keys in destination db %s after a flush at the source", deleted, control["db"])
        after.applied_seq, after.source_position = seq, position
        after.applied_commit_time = max(cp.applied_commit_time or 0.0, commit_time)
        self._sink.save_checkpoint(after.to_json())
        cp.__dict__.update(after.__dict__)

    # -- counters and errors ----------------------------------------------------------
    @staticmethod
    def _count(batch: Batch, cp: Checkpoint) -> None:
        """Commands applied in the stream; keys copied (each a RESTORE) in a snapshot."""
        if not in_snapshot(cp):
            cp.events_applied += sum(batch.writes.values())
            return
        by_destination = {table.destination.split(" ")[0]: table for table in cp.tables.values()}
        for db, copied in batch.writes.items():
            cp.rows_copied += copied
            table = by_destination.get(f"db{db}")
            if table is not None:
                table.rows_copied += copied

    def _repair(self, vanished: list[tuple[int, bytes]], cp: Checkpoint) -> None:
        """Keys that expired on the destination before the source's writes reached them (the
        agent was down or behind): counted, logged once each, and sent again by the source
        through its stream, so that the value lands in order, before the writes that follow."""
        cp.expired_on_destination += len(vanished)
        for db, key in dict.fromkeys(vanished):
            requested = self._repairer is not None and self._repairer.request(db, key)
            if (db, key) in self._vanished_logged or len(self._vanished_logged) >= MAX_VANISHED_LOGGED:
                continue
            self._vanished_logged.add((db, key))
            log.warning("key %r in db %d expired on the destination before the source's write reached it; %s",
                        key.decode(errors="replace"), db,
                        "the source sends its current value again" if requested
                        else "it could not be repaired (the source refused the request): run verify")

    def _report(self, errors: list[str], cp: Checkpoint) -> None:
        busy = [error for error in errors if "BUSYKEY" in error]
        if busy and self._conflicts.policy.keeps_destination:
            cp.conflicts.add("insert", len(busy))
            errors = [error for error in errors if "BUSYKEY" not in error]
        if not errors:
            return
        now = time.monotonic()
        if now - self._errors_logged_at >= 1.0:  # at most one burst a second
            self._errors_logged_at = now
            for error in errors[:MAX_ERRORS_LOGGED]:
                log.warning("the destination rejected a replicated command: %s", error)
            if len(errors) > MAX_ERRORS_LOGGED:
                log.warning("... and %d more rejected commands in this batch", len(errors) - MAX_ERRORS_LOGGED)

