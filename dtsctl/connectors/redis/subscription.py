"""Subscriptions on key-value (Redis) sources: the replica stream -> change log -> records.

The keyspace pipeline's source (`RedisSource`: the replica connection, the RDB
reader, the selection and its `Translator`) is reused as it is; only what it
emits differs. A sync task's change log holds destination commands; a
subscription's holds, per change-log row, one *source transaction* as JSON:

    {"ops": [{"db": 0, "args": [base64, ...], "offset": 1234}, ...],
     "multi": {"begin": 1200, "end": 1250} | null}             (a command, or a MULTI/EXEC block)
    {"snapshot": [{"db": 0, "key": b64, "type": "hash", "value": b64 DUMP payload, "expire_ms": n|null}]}

or a control row (`snapshot_begin`/`snapshot_end`). `KeyspaceRecorder` turns
these into envelopes (docs/subscriptions.md, "Redis sources"):

- a write that creates or changes a key: `update`, one per key it touches, `after` =
  {"db", "key", "type", "command", "command_encoding"};
- DEL/UNLINK/GETDEL (and the DEL/UNLINK Redis propagates for an expired key): `delete`,
  one per key, `before` = the same image (no value), `after` null;
- RENAME src dst: `delete` of src, `update` of dst; MOVE: `delete` in the old db, `update`
  in the new one; FLUSHDB/FLUSHALL/SWAPDB: `ddl` (kind `truncate`/`swapdb`) on a database;
- a MULTI/EXEC block: `begin`, its records, `commit`, all with xid = the seq of `begin`;
  a command outside MULTI: its records share xid = the seq of its first record;
- the snapshot (phases with `full`): `begin`, one `insert` per key with the value's DUMP
  payload (`after.value`, base64, `types: {"value": "bytes"}`), `commit`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.commands import keys_of
from dtsctl.connectors.redis.dump import dump_payload
from dtsctl.connectors.redis.selection import Selection
from dtsctl.connectors.redis.snapshot import RECORD_BYTES, RECORD_COMMANDS, SnapshotWalk, Walker
from dtsctl.connectors.redis.source import RedisSource
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import Position
from dtsctl.engine.keyspace.interfaces import SNAPSHOT_BEGIN, SNAPSHOT_END, KeyspaceSource, Record, control_of
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.progress import Progress
from dtsctl.engine.task import TaskSpec
from dtsctl.engine.subscription.envelope import Envelope, iso_time
from dtsctl.engine.subscription.store import SubscriptionStore
from dtsctl.engine.subscription.recorder import (EVENTS, MAX_TRANSACTIONS_PER_BATCH, NEWEST_COMMIT_TIME, SOURCE_SEQ,
                                                 Recorder)
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

OPEN_SNAPSHOT_XID = "open_snapshot_xid"  # store meta: xid of a snapshot whose `commit` has not come yet
STREAMING = "keyspace_streaming"  # store meta: the end of the first full resync was recorded

_TYPE_NAMES = {
    rdb.STRING: "string", rdb.LIST: "list", rdb.SET: "set", rdb.ZSET: "zset", rdb.HASH: "hash",
    rdb.ZSET_2: "zset", rdb.MODULE: "module", rdb.MODULE_2: "module", rdb.HASH_ZIPMAP: "hash",
    rdb.LIST_ZIPLIST: "list", rdb.SET_INTSET: "set", rdb.ZSET_ZIPLIST: "zset", rdb.HASH_ZIPLIST: "hash",
    rdb.LIST_QUICKLIST: "list", rdb.STREAM_LISTPACKS: "stream", rdb.HASH_LISTPACK: "hash",
    rdb.ZSET_LISTPACK: "zset", rdb.LIST_QUICKLIST_2: "list", rdb.STREAM_LISTPACKS_2: "stream",
    rdb.SET_LISTPACK: "set", rdb.STREAM_LISTPACKS_3: "stream",
}

# The type of the value a command leaves behind (None: a command on keys of any type).
_COMMAND_TYPES: dict[bytes, str] = {
    **{name.encode(): "string" for name in """set setnx setex psetex append incr decr incrby decrby incrbyfloat
        getset getex setrange setbit bitfield mset msetnx bitop pfadd pfmerge""".split()},
    **{name.encode(): "list" for name in """lpush rpush lpushx rpushx linsert lset lrem ltrim lpop rpop rpoplpush
        lmove blmove brpoplpush blpop brpop lmpop blmpop""".split()},
    **{name.encode(): "hash" for name in "hset hsetnx hmset hdel hincrby hincrbyfloat".split()},
    **{name.encode(): "set" for name in "sadd srem spop smove sinterstore sunionstore sdiffstore".split()},
    **{name.encode(): "zset" for name in """zadd zincrby zrem zremrangebyrank zremrangebyscore zremrangebylex
        zpopmin zpopmax zunionstore zinterstore zdiffstore zrangestore bzpopmin bzpopmax zmpop bzmpop geoadd
        georadius georadiusbymember geosearchstore""".split()},
    **{name.encode(): "stream" for name in "xadd xdel xtrim xack xclaim xautoclaim xsetid xgroup".split()},
}
_DELETES = frozenset({b"del", b"unlink", b"getdel"})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- source side: what the replica stream becomes in the change log ------------------------
class _Changes:
    """The translator's emitter for subscriptions: collects source transactions with offsets."""

    def __init__(self, source: "SubscriptionRedisSource") -> None:
        self._source = source
        self._ops: list[dict[str, Any]] = []
        self._multi: dict[str, int] | None = None
        self._snapshot: list[dict[str, Any]] = []
        self._done: list[Record] = []
        self.commands = 0
        self.size = 0
        self.heartbeat_value: bytes | None = None

    # Emitter (dtsctl.connectors.redis.selection)
    def command(self, db: int, args: list[bytes], keys: Sequence[bytes] = (), received: bytes | None = None) -> None:
        self._ops.append({"db": db, "args": [_b64(arg) for arg in args], "offset": self._source.offset})
        self.size += sum(len(arg) for arg in args)

    def clear(self, db: int, prefixes: list[str] | None) -> None:
        self._ops.append({"db": db, "flush": True, "prefixes": prefixes, "offset": self._source.offset})

    def heartbeat(self, value: bytes) -> None:
        self.heartbeat_value = value

    # transaction boundaries (the stream loop)
    def multi(self) -> None:
        self._multi = {"begin": self._source.offset}

    def exec(self) -> None:
        if self._multi is not None:
            self._multi["end"] = self._source.offset
        self._finish()

    def end_command(self) -> None:
        if self._multi is None:
            self._finish()

    def _finish(self) -> None:
        if self._ops:
            payload = json.dumps({"ops": self._ops, "multi": self._multi}).encode()
            self._done.append(Record(payload, self._source.position(), time.time()))
            self.commands += 1
        self._ops, self._multi = [], None

    # snapshot
    def snapshot_key(self, db: int, key: bytes, value_type: int, payload: bytes, expire_ms: int | None) -> None:
        self._snapshot.append({"db": db, "key": _b64(key), "type": _TYPE_NAMES.get(value_type, "unknown"),
                               "value": _b64(payload), "expire_ms": expire_ms})
        self.commands += 1
        self.size += len(key) + len(payload)

    def take(self, position: Position) -> list[Record]:
        records, self._done = self._done, []
        if self._snapshot:
            records.append(Record(json.dumps({"snapshot": self._snapshot}).encode(), position, time.time()))
            self._snapshot = []
        self.commands, self.size = 0, 0
        return records


class SubscriptionRedisSource(RedisSource):
    """`RedisSource` (same replica connection, RDB reader and selection) emitting source
    transactions instead of destination commands."""

    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self._pending = _Changes(self)  # type: ignore[assignment]
        self._translator.emit = self._pending

    @property
    def offset(self) -> int:
        return self._offset

    def position(self) -> dict[str, Any]:
        return self._position()

    def _start_snapshot(self) -> Walker:
        return SnapshotWalk(self.spec.objects, self._keep_snapshot)

    def _snapshot_records(self, data: bytes) -> list[Record]:
        """Each selected entry as an insert of its DUMP payload."""
        assert isinstance(self._snapshot, SnapshotWalk)
        walk, changes = self._snapshot, cast(_Changes, self._pending)
        records: list[Record] = []
        for _, entry in walk.selected(data):
            changes.snapshot_key(entry.db, entry.key, entry.type,
                                 dump_payload(entry.type, entry.encoding, walk.rdb.version or 0), entry.expire_ms)
            if changes.commands >= RECORD_COMMANDS or changes.size >= RECORD_BYTES:
                records += changes.take(self._position(True))
        return records

    def _stream_event(self, kind: str) -> None:
        changes: _Changes = self._pending  # type: ignore[assignment]
        {"multi": changes.multi, "exec": changes.exec, "command": changes.end_command}[kind]()


def precheck(spec: TaskSpec) -> list[str]:
    """Problems that stop a Redis subscription (empty: none)."""
    try:
        Selection(spec.objects)
    except DtsError as exc:
        return [str(exc)]
    problems = []
    for selection in spec.objects:
        if selection.get("rename") is not None or selection.get("extend_ttl_seconds"):
            problems.append(f"Redis database {selection['database']}: `rename` and `extend_ttl_seconds` do not "
                            "apply to a subscription (records name the source's keys); remove them")
    if spec.source_endpoint.get("cluster"):
        problems.append("subscriptions on a Redis Cluster source are not supported; name one node per task")
    return problems


def make_reader(spec: TaskSpec, changelog_path: Path, progress: Progress,
                appended: threading.Event) -> KeyspaceReader:
    if not isinstance(progress, KeyspaceProgress):
        raise FatalError("a Redis subscription needs the keyspace progress (agent dispatch)")
    make_source: Callable[[], KeyspaceSource] = lambda: SubscriptionRedisSource(spec)  # noqa: E731
    return KeyspaceReader(make_source, changelog_path, progress, appended, snapshot="full" in spec.phases)


# -- recorder side: change-log rows -> envelopes ---------------------------------------------
class KeyspaceRecorder(Recorder):
    """The subscription recorder for change logs of `SubscriptionRedisSource` rows.

    The stream is in place once the end of the first full resync is recorded (every write
    after it is captured): until then the phase is `full`, then `incremental`."""

    def __init__(self, store: SubscriptionStore, changelog: ChangeLog,
                 on_phase: Callable[[str], None] = lambda phase: None) -> None:
        super().__init__(store, changelog)
        self._on_phase = on_phase

    def phase(self) -> str:
        """`full` until the end of the first full resync is recorded: a write made before it may be
        in the snapshot (kept only with `full` in `phases`) rather than in the stream."""
        return "incremental" if self.store.get(STREAMING) else "full"

    def record_next(self) -> int:
        batch = self.changelog.read_raw(self.source_seq, MAX_TRANSACTIONS_PER_BATCH)
        if not batch:
            return 0
        now = time.time()
        with self.store.transaction():
            streaming = bool(self.store.get(STREAMING))
            builder = _Builder(self.store.last_seq() + 1, self.store.get(OPEN_SNAPSHOT_XID), streaming)
            for _, position, commit_time, payload in batch:
                builder.row(bytes(payload) if not isinstance(payload, str) else payload.encode(), position,
                            commit_time)
            self.store.insert(builder.records, now)
            self.store.set(SOURCE_SEQ, batch[-1][0])
            events = sum(1 for record in builder.records if record["op"] not in ("begin", "commit"))
            self.store.set(EVENTS, int(self.store.get(EVENTS, 0)) + events)
            self.store.set(OPEN_SNAPSHOT_XID, builder.snapshot_xid)
            self.store.set(STREAMING, builder.streaming)
            newest = max(commit_time for _, _, commit_time, _ in batch)
            self.store.set(NEWEST_COMMIT_TIME, max(newest, self.store.get(NEWEST_COMMIT_TIME) or newest))
        if builder.streaming and not streaming:
            self._on_phase("incremental")
        return len(batch)


class _Builder:
    def __init__(self, first_seq: int, snapshot_xid: int | None, streaming: bool) -> None:
        self.next_seq = first_seq
        self.snapshot_xid = snapshot_xid
        self.streaming = streaming
        self.records: list[Envelope] = []

    def _add(self, op: str, obj: str | None, xid: int | None, ts: float, position: Position,
             **fields: Any) -> Envelope:
        record = {"seq": self.next_seq, "op": op, "object": obj, "xid": xid, "before": None, "after": None,
                  "types": {}, "commit_time": iso_time(ts), "commit_ts": ts, "position": position, **fields}
        self.next_seq += 1
        self.records.append(record)
        return record

    def row(self, payload: bytes, position: Position, ts: float) -> None:
        control = control_of(payload)
        if control is not None:
            self._control(control, position, ts)
            return
        data = json.loads(payload)
        if "snapshot" in data:
            self._snapshot(data["snapshot"], position, ts)
            return
        multi = data.get("multi")
        xid = None
        if multi is not None:
            xid = self._add("begin", None, None, ts, {**position, "offset": multi["begin"]})["seq"]
            self.records[-1]["xid"] = xid
        for op in data["ops"]:
            op_position = {**position, "offset": op["offset"], "db": op["db"]}
            first = self.next_seq
            self._op(op, xid if xid is not None else first, ts, op_position)
        if multi is not None:
            self._add("commit", None, xid, ts, {**position, "offset": multi.get("end", position["offset"])})

    def _control(self, control: dict[str, Any], position: Position, ts: float) -> None:
        if control["op"] == SNAPSHOT_BEGIN and self.streaming:
            # the source could not continue the stream (backlog overwritten, restart, failover): writes
            # between the last record and the new snapshot may be missing
            self._add("ddl", None, None, ts, position, ddl=_ddl(
                "resync", "full resync: writes since the previous record may be missing"
                + ("; the snapshot follows" if control.get("data") else ""), None))
            self.records[-1]["xid"] = self.records[-1]["seq"]
        if control["op"] == SNAPSHOT_END:
            self.streaming = True
        if control["op"] == SNAPSHOT_BEGIN and control.get("data"):
            # an interrupted snapshot is started over: its `begin` is left without a `commit`
            self.snapshot_xid = self._add("begin", None, None, ts, position, snapshot=True)["seq"]
            self.records[-1]["xid"] = self.snapshot_xid
        elif control["op"] == SNAPSHOT_END and self.snapshot_xid is not None:
            self._add("commit", None, self.snapshot_xid, ts, position, snapshot=True)
            self.snapshot_xid = None

    def _snapshot(self, entries: list[dict[str, Any]], position: Position, ts: float) -> None:
        for entry in entries:
            key = base64.b64decode(entry["key"])
            image, types = _key_image(entry["db"], key, entry["type"])
            image["value"] = entry["value"]
            image["expire_ms"] = entry["expire_ms"]
            types["value"] = "bytes"
            self._add("insert", _object(entry["db"], key), self.snapshot_xid, ts, position, after=image, types=types)

    def _op(self, op: dict[str, Any], xid: int, ts: float, position: Position) -> None:
        db = op["db"]
        if op.get("flush"):
            self._add("ddl", str(db), xid, ts, position, ddl=_ddl("truncate", "FLUSHDB", op.get("prefixes")))
            return
        args = [base64.b64decode(arg) for arg in op["args"]]
        name = args[0].lower()
        command, encoding = _command(args)
        if name == b"swapdb":
            self._add("ddl", None, xid, ts, position, ddl=_ddl("swapdb", " ".join(command), None))
            return
        if name in _DELETES:
            for key in (args[1:] if name != b"getdel" else args[1:2]):
                self._change("delete", db, key, None, command, encoding, xid, ts, position)
            return
        if name in (b"rename", b"renamenx"):
            self._change("delete", db, args[1], None, command, encoding, xid, ts, position)
            self._change("update", db, args[2], None, command, encoding, xid, ts, position)
            return
        if name == b"move":
            self._change("delete", db, args[1], None, command, encoding, xid, ts, position)
            self._change("update", int(args[2]), args[1], None, command, encoding, xid, ts, position)
            return
        if name == b"copy":
            lowered = [arg.lower() for arg in args]
            target = int(args[lowered.index(b"db", 3) + 1]) if b"db" in lowered[3:] else db
            self._change("update", target, args[2], None, command, encoding, xid, ts, position)
            return
        value_type = _COMMAND_TYPES.get(name)
        seen: set[bytes] = set()
        for key in keys_of(args) or []:
            if key not in seen:
                seen.add(key)
                self._change("update", db, key, value_type, command, encoding, xid, ts, position)

    def _change(self, op: str, db: int, key: bytes, value_type: str | None, command: list[str], encoding: str,
                xid: int, ts: float, position: Position) -> None:
        image, types = _key_image(db, key, value_type)
        image["command"], image["command_encoding"] = command, encoding
        images = {"before": image} if op == "delete" else {"after": image}
        self._add(op, _object(db, key), xid, ts, position, types=types, **images)


def _object(db: int, key: bytes) -> str:
    return f"{db}:{key.decode('utf-8', errors='backslashreplace')}"


def _key_image(db: int, key: bytes, value_type: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        return {"db": db, "key": key.decode("utf-8"), "type": value_type}, {}
    except UnicodeDecodeError:
        return {"db": db, "key": _b64(key), "type": value_type}, {"key": "bytes"}


def _command(args: list[bytes]) -> tuple[list[str], str]:
    """The command as text when every argument is UTF-8, else every argument base64."""
    try:
        return [arg.decode("utf-8") for arg in args], "text"
    except UnicodeDecodeError:
        return [_b64(arg) for arg in args], "base64"


def _ddl(kind: str, statement: str, prefixes: list[str] | None) -> dict[str, Any]:
    return {"kind": kind, "statement": statement, "body": "", "new_table": None, "key": [], "dialect": "redis",
            "prefixes": prefixes}
