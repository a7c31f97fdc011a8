"""The Redis source: a replica connection turned into change-log records.

Position: {"replid", "offset", "db"} where offset is the last replication byte
consumed at a transaction boundary and db the source database selected there
(the continued stream does not repeat SELECT). Each record carries the position
right after it (records of one read share it only inside a MULTI block), so the
destination checkpoint can carry it for a new owner (cluster runtime). While an
RDB is still arriving the position carries "snapshot": true, and a restart asks
for a new full resync.

The reverse of a two-way pair drops every MULTI/EXEC block that sets its peer's
origin marker (dtsctl.engine.origin): the peer's applier wrote it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.client import connect
from dtsctl.connectors.redis.replica import ReplicaConnection, streams_snapshot
from dtsctl.connectors.redis.resp import encode, open_connection
from dtsctl.connectors.redis.selection import HEARTBEAT_PREFIX, Selection, Translator, origin_key
from dtsctl.connectors.redis.snapshot import RECORD_BYTES, RECORD_COMMANDS, RestorePayloads, SnapshotWalk, Walker
from dtsctl.engine.errors import PositionLost
from dtsctl.engine.events import Position
from dtsctl.engine.keyspace.interfaces import CLEAR, SNAPSHOT_BEGIN, SNAPSHOT_END, KeyspaceSource, Record
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
SNAPSHOT_READ_BYTES = 4 << 20
GATHER_SECONDS = 0.05  # how long one read keeps taking what has already arrived
_FLUSHES = frozenset({b"flushdb", b"flushall"})  # what the translator turns into a clear


class _Pending:
    """Destination commands waiting to become records; a SELECT starts every payload."""

    def __init__(self, track_keys: bool = False) -> None:
        self.payloads: list[bytes] = []
        self.payload_keys: list[tuple[bytes, ...]] = []  # parallel to payloads, when tracking keys
        self._parts: list[bytes] = []
        self._keys: list[bytes] = []
        self._track_keys = track_keys
        self._db: int | None = None
        self.commands = 0
        self.size = 0
        self.heartbeat_value: bytes | None = None

    def command(self, db: int, args: list[bytes], keys: Sequence[bytes] = (), received: bytes | None = None) -> None:
        """Add a command; `keys` are the keys a stream command writes, `received` its RESP bytes
        when it is the source's command unchanged."""
        self.encoded(db, encode(args) if received is None else received, keys)

    def encoded(self, db: int, data: bytes, keys: Sequence[bytes] = ()) -> None:
        """Add a command already encoded (the snapshot's RESTOREs, which write no key to track)."""
        if db != self._db:
            self._parts.append(encode((b"SELECT", db)))
            self._db = db
        self._parts.append(data)
        if self._track_keys:
            self._keys += [b"%d:%b" % (db, key) for key in keys]
        self.commands += 1
        self.size += len(data)

    def clear(self, db: int, prefixes: list[str] | None) -> None:
        self._close()
        self.payloads.append(Record.control(CLEAR, None, 0.0, db=db, prefixes=prefixes).data)
        self.payload_keys.append(())

    def heartbeat(self, value: bytes) -> None:
        self.heartbeat_value = value

    def mark(self) -> tuple[int, int, int]:
        """End the open payload and say where pending commands stand, for `rollback`."""
        self._close()
        return len(self.payloads), self.commands, self.size

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Forget every command added since `mark` (no `take` may happen in between)."""
        payloads, self.commands, self.size = mark
        del self.payloads[payloads:]
        del self.payload_keys[payloads:]
        self._parts, self._keys, self._db = [], [], None

    def take(self, position: Position) -> list[Record]:
        self._close()
        now = time.time()
        records = [Record(payload, position, now, keys)
                   for payload, keys in zip(self.payloads, self.payload_keys)]
        self.payloads, self.payload_keys, self.commands, self.size = [], [], 0, 0
        return records

    def _close(self) -> None:
        if self._parts:
            self.payloads.append(b"".join(self._parts))
            self.payload_keys.append(tuple(self._keys))
            self._parts, self._keys, self._db = [], [], None


class RedisSource(KeyspaceSource):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.selection = Selection(spec.objects)
        self.heartbeat_key = (HEARTBEAT_PREFIX + spec.task_id).encode()
        self.replace = not spec.conflict_policy.keeps_destination
        self._replica: ReplicaConnection | None = None
        self._dropped_marker = origin_key(spec.dropped_origin) if spec.dropped_origin else None
        # A direction of a pair records the keys of each record, and how far its source had
        # received the peer's changes (`peer_seen`, the peer's applied change-log seq) when each
        # record was written there: together they tell concurrent writes of one key apart.
        self._pending = _Pending(track_keys=self._dropped_marker is not None)
        self._translator = Translator(self.selection, self.heartbeat_key, self._pending)
        self._peer_seen = 0
        self._replid = ""
        self._offset = 0
        self._snapshot: Walker | None = None  # while an RDB arrives
        self._rdb_left: int | None = 0  # bytes of it still to read; None: diskless, until its end marker
        self._announced = False  # SNAPSHOT_BEGIN emitted for the current RDB
        self._keep_snapshot = True
        self._durable_offset = 0
        self._warned_functions = False

    # -- connection ---------------------------------------------------------------------
    def check_connection(self) -> None:
        conn = open_connection(self.endpoint, "source")
        try:
            conn.call("PING")
        finally:
            conn.close()

    def close(self) -> None:
        self._end_snapshot()
        if self._replica is not None:
            self._replica.close()
            self._replica = None

    @property
    def in_snapshot(self) -> bool:
        return self._snapshot is not None

    def describe_position(self, position: Position) -> str:
        if not position:
            return ""
        text = f"{position['replid']}:{position['offset']}"
        return text + " (snapshot)" if position.get("snapshot") else text

    def open(self, position: Position | None, snapshot: bool) -> None:
        self._keep_snapshot = snapshot
        self._peer_seen = int((position or {}).get("peer_seen", 0))
        self._replica = ReplicaConnection(self.endpoint)
        resumable = bool(position) and not position.get("snapshot")
        reply = self._replica.psync(position["replid"] if resumable else None,
                                    position["offset"] if resumable else None, streams_snapshot(self.endpoint))
        if not reply.full:
            self._replid, self._offset = reply.replid, reply.offset
            self._durable_offset = reply.offset
            self._translator.db = int(position.get("db", 0))
            log.info("continuing replication at %s:%d", self._replid, self._offset)
            self._replica.start_stream(POLL_SECONDS)
            return
        if resumable and not self.spec.reseed_on_lost_position and self.spec.tags is None \
                and self.spec.type != "subscription":
            # (a direction of a two-way pair is refused by its applier, which says to re-seed the pair;
            # a subscription always resyncs, and a record says so)
            raise PositionLost(
                f"the source can no longer continue its replication stream from {self.describe_position(position)} "
                "(backlog overwritten, source restarted or failed over)",
                "raise repl-backlog-size on the source, then replace the task (destroy, apply) to copy again")
        if resumable:
            self.resync_reason = (f"the source could not continue from {self.describe_position(position)} "
                                  "(backlog overwritten, source restarted or failed over): full resync")
            log.warning("%s", self.resync_reason)
        elif position:
            self.resync_reason = "the previous snapshot was interrupted: full resync"
            log.info("%s", self.resync_reason)
        self._replid, self._offset = reply.replid, reply.offset
        self._end_snapshot()
        self._snapshot = self._start_snapshot()
        self._rdb_left = self._replica.rdb_length()
        self._announced = False
        log.info("receiving the snapshot (%s) at %s:%d",
                 "diskless" if self._rdb_left is None else f"{self._rdb_left} bytes", self._replid, self._offset)

    # -- reading ------------------------------------------------------------------------
    def read(self, wait_seconds: float) -> tuple[list[Record], Position]:
        if self._snapshot is not None:
            return self._read_snapshot()
        if self._replica is None or not self.spec.incremental:
            time.sleep(wait_seconds)  # a migration reads no stream
            return [], self._position()
        return self._read_stream()

    def _position(self, snapshot: bool = False) -> dict[str, Any]:
        position: dict[str, Any] = {"replid": self._replid, "offset": self._offset, "db": self._translator.db}
        if self._dropped_marker is not None:
            position["peer_seen"] = self._peer_seen
        if snapshot:
            position["snapshot"] = True
        return position

    def _read_snapshot(self) -> tuple[list[Record], Position]:
        assert self._replica is not None and self._snapshot is not None
        records: list[Record] = []
        if not self._announced:
            self._announced = True
            records.append(Record.control(SNAPSHOT_BEGIN, self._position(True), time.time(),
                                          databases=self._estimates(), data=self._keep_snapshot))
        data = b""
        if self._rdb_left is None:
            data = self._replica.rdb_bytes(SNAPSHOT_READ_BYTES)
        elif self._rdb_left:
            data = self._replica.rdb_bytes(min(self._rdb_left, SNAPSHOT_READ_BYTES))
            self._rdb_left -= len(data)
        records += self._snapshot_records(data)
        if self._snapshot.functions and not self._warned_functions:
            self._warned_functions = True
            log.warning("the source holds Redis functions; they are not replicated (load them on the "
                        "destination with FUNCTION LOAD)")
        if not self._snapshot.done:
            if self._rdb_left == 0:
                raise rdb.RdbError("the snapshot ended before its end marker; the source sent a truncated RDB")
            return records + self._pending.take(self._position(True)), self._position(True)
        if self._rdb_left is None:
            self._replica.end_diskless(self._snapshot.rest, self._offset)
        elif self._rdb_left or self._snapshot.rest:
            raise rdb.RdbError("the snapshot has data after its end marker")
        self._end_snapshot()
        self._translator.db = 0
        records += self._pending.take(self._position(True))
        records.append(Record.control(SNAPSHOT_END, self._position(), time.time()))
        log.info("snapshot received; streaming from %s:%d", self._replid, self._offset)
        assert self._replica is not None
        if self.spec.incremental:
            self._replica.start_stream(POLL_SECONDS)
        return records, self._position()

    def _start_snapshot(self) -> Walker:
        """The walk of the RDB about to arrive, giving the payloads of the destination's RESTOREs
        (dtsctl.connectors.redis.snapshot)."""
        return RestorePayloads(SnapshotWalk(self.spec.objects, self._keep_snapshot), self.replace)

    def _snapshot_records(self, data: bytes) -> list[Record]:
        """The records completed by the RDB bytes `data`."""
        assert isinstance(self._snapshot, RestorePayloads)
        position, now = self._position(True), time.time()
        return [Record(payload, position, now) for payload in self._snapshot.feed(data)]

    def _end_snapshot(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
            self._snapshot = None

    def _estimates(self) -> dict[str, dict[str, int]]:
        """Keys per selected database now (INFO keyspace), for progress in status."""
        counts: dict[int, int] = {}
        try:
            client = connect(self.endpoint, "source")
            try:
                counts = {int(name[2:]): details["keys"] for name, details in client.info("keyspace").items()}
            finally:
                client.close()
        except DtsError as exc:  # estimates only feed progress
            log.warning("could not read the source's key counts: %s", exc)
        return {str(db): {"destination": rule.destination, "keys": counts.get(db, 0), "prefixes": rule.prefix_strings}
                for db, rule in self.selection.rules.items()}

    def _read_stream(self) -> tuple[list[Record], Position]:
        assert self._replica is not None
        records: list[Record] = []
        in_multi = tagged = False
        block_start: tuple[int, int, int] | None = None
        peer_applied: bytes | None = None
        commands = self._replica.commands()
        gather_until = time.monotonic() + GATHER_SECONDS
        while commands:
            for args, received in commands:
                name = args[0].lower()
                if name in _FLUSHES and not in_multi:
                    # Exact positions around a clear, which the applier commits alone: the records
                    # before it end before it, so a new owner resuming from either misses nothing.
                    records += self._pending.take(self._position())
                    self._offset += len(received)
                    self._translator.handle(args, received)
                    records += self._pending.take(self._position())
                    self._stream_event("command")
                    continue
                self._offset += len(received)
                if name == b"multi":
                    in_multi, tagged = True, False
                    block_start = self._pending.mark() if self._dropped_marker else None
                    self._stream_event("multi")
                elif name == b"exec":
                    in_multi = False
                    if tagged and block_start is not None:
                        self._pending.rollback(block_start)  # the peer wrote it: it came from here
                        records += self._pending.take(self._position())  # written before it
                        self._peer_seen = max(self._peer_seen, _as_seq(peer_applied))
                    self._stream_event("exec")
                elif name == b"replconf":
                    if len(args) > 1 and args[1].lower() == b"getack":
                        self._replica.ack(self._durable_offset, force=True)
                else:
                    if in_multi and self._dropped_marker and len(args) > 1 and args[1] == self._dropped_marker:
                        tagged = True
                        peer_applied = args[2] if len(args) > 2 else None
                    self._translator.handle(args, received)
                    self._stream_event("command")
                if not in_multi and (self._pending.commands >= RECORD_COMMANDS
                                     or self._pending.size >= RECORD_BYTES):
                    records += self._pending.take(self._position())
            if in_multi:
                # A MULTI block is propagated at once: wait for the rest of it (a poll may bring only
                # part of a large command, or nothing yet), so that positions stay on boundaries
                # and a block's origin marker, written last, is seen inside it.
                commands = self._replica.commands()
                while not commands:
                    commands = self._replica.commands()
            elif time.monotonic() < gather_until:  # fewer, larger appends: each one is an fsync
                commands = self._replica.commands(wait=False)
            else:
                commands = []
        if self._pending.heartbeat_value is not None:
            try:
                self.last_heartbeat = float(self._pending.heartbeat_value)
            except ValueError:
                pass
            self._pending.heartbeat_value = None
        return records + self._pending.take(self._position()), self._position()

    def _stream_event(self, kind: str) -> None:
        """Hook called after each MULTI, EXEC and translated command; subscriptions follow blocks with it."""

    def acknowledge(self, position: Position) -> None:
        if self._replica is None or self._snapshot is not None or not position or position.get("snapshot"):
            return
        self._durable_offset = position["offset"]
        self._replica.ack(self._durable_offset)


def _as_seq(marker_value: bytes | None) -> int:
    """The peer's applied change-log seq its origin marker carries (0 for older markers)."""
    try:
        return int(marker_value or 0)
    except ValueError:
        return 0
