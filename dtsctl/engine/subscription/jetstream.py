"""The task's store on the cluster runtime: records in a NATS JetStream stream, groups in a KV bucket.

Both are replicated (`replicas`, 3 by default), so records, offsets and leases survive the
loss of the host that runs the task and of a minority of NATS servers.

- **Records.** One message per record, in a stream of its own; a record's seq *is* the
  message's stream sequence: every publish carries `Nats-Expected-Last-Sequence` = seq - 1,
  so seqs stay dense and a former owner that still publishes after a takeover is refused
  (it stops with "another host took this task over"). Purging keeps sequences, so a seq is
  never reused. Retention purges from the front and always keeps the newest record.
- **Where the stream resumes.** Each message carries `Dtsctl-Resume-Seq` and `Dtsctl-Resume`:
  the seq and source position after the last complete transaction at or before it. A new
  owner (or a restarted agent) reads the source again from the last message's `Dtsctl-Resume`,
  and numbers the re-read transactions from `Dtsctl-Resume-Seq` + 1; the records of a
  transaction that was only partly published are then already there and are skipped, so
  nothing is recorded twice or lost.
- **Groups.** Key `g.<hex name>` of the bucket holds the group's offset, its gap and its
  lease; every change is a compare-and-set on the key's revision (`update_group`).
- **Meta** (status counters, precheck done) is one JSON value, key `meta`, written by the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from dataclasses import asdict
from typing import Any, Callable, Iterator, Sequence

import nats.js.errors
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from dtsctl.engine.errors import FatalError
from dtsctl.engine.events import Position
from dtsctl.engine.subscription.envelope import Envelope, gap_record, iso_time
from dtsctl.engine.subscription import nats_link
from dtsctl.engine.subscription.nats_link import NatsLink, NatsSettings, unavailable
from dtsctl.engine.subscription.store import Group, PositionTrimmed, Retained, StoreMissing

RESUME_SEQ = "Dtsctl-Resume-Seq"
RESUME = "Dtsctl-Resume"
BOUNDARIES = ("commit", "heartbeat")  # records after which the source stream can resume
READ_CONCURRENCY = 200
SCAN_LIMIT = 50
META = "meta"


class JetStreamStore:
    keeps_change_log = False  # the change log stays on a host: the stream is read again from resume_position()

    def __init__(self, settings: NatsSettings, create: bool = True) -> None:
        self.settings = settings
        self.stream = settings.name
        self.subject = f"dtsctl.records.{settings.name}"
        self.link = NatsLink(settings)
        try:
            self._open(create)
        except BaseException:
            self.link.close()
            raise
        self._writer = uuid.uuid4().hex  # a retried publish of this writer is deduplicated, another's is refused
        self._meta: dict[str, Any] = self._read_meta()
        self._dirty = False
        last = self._last_message()
        self._stream_last = self._info().state.last_seq
        self._resume_seq = int(last.headers[RESUME_SEQ]) if last is not None else self._stream_last
        self._resume: Position = json.loads(last.headers[RESUME]) if last is not None else None

    def _open(self, create: bool) -> None:
        js = self.link.js
        try:
            self.link.call(lambda: js.stream_info(self.stream))
            self.kv = self.link.call(lambda: js.key_value(self.stream))
            return
        except (nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
            if not create:
                raise StoreMissing(f"no change stream {self.stream} on the NATS servers "
                                   f"{', '.join(self.settings.servers)}: run `dtsctl apply` and wait for the task "
                                   "to start") from None
        config = StreamConfig(name=self.stream, subjects=[self.subject], num_replicas=self.settings.replicas,
                              storage=StorageType.FILE, discard=DiscardPolicy.NEW, duplicate_window=120.0)
        self.link.call(lambda: js.add_stream(config))
        self.kv = self.link.call(lambda: js.create_key_value(bucket=self.stream, replicas=self.settings.replicas,
                                                             history=1))

    def close(self) -> None:
        self.link.close()

    def drop(self) -> None:
        """Delete the stream and the groups (the task is destroyed)."""
        js = self.link.js
        for delete in (lambda: js.delete_stream(self.stream), lambda: js.delete_key_value(self.stream)):
            with contextlib.suppress(nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
                self.link.call(delete)

    # -- meta -----------------------------------------------------------------------
    def _read_meta(self) -> dict[str, Any]:
        try:
            entry = self.link.call(lambda: self.kv.get(META))
        except nats.js.errors.KeyNotFoundError:
            return {}
        return json.loads(entry.value or b"{}")

    def get(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._meta[key] = value
        self._dirty = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Meta changes are written together at the end (records and groups are written at once)."""
        yield
        if self._dirty:
            payload = json.dumps(self._meta).encode()
            self.link.call(lambda: self.kv.put(META, payload))
            self._dirty = False

    # -- records --------------------------------------------------------------------
    def last_seq(self) -> int:
        return self._info().state.last_seq

    def trimmed_upto(self) -> int:
        return _trimmed(self._info().state)

    def next_seq(self) -> int:
        """The seq of the next transaction's `begin`: after the last complete transaction."""
        return self._resume_seq + 1

    def resume_position(self) -> tuple[bool, Position]:
        """(True, where the source resumes after the last complete transaction), or (False, None) for a
        stream that has no record yet."""
        if self._resume_seq == 0 and "start_position" not in self._meta:
            return False, None
        return True, self._resume if self._resume_seq else self._meta["start_position"]

    def start(self, position: Position) -> None:
        """Remember where a new stream starts, before any record exists."""
        with self.transaction():
            self.set("start_position", position)

    def insert(self, records: Sequence[Envelope], now: float) -> None:
        """Publish records numbered from next_seq(); those already in the stream (the published part of a
        transaction a former run did not finish) are skipped."""
        if records and records[0]["seq"] != self.next_seq():
            raise ValueError(f"record seq {records[0]['seq']} out of order; expected {self.next_seq()}")
        messages = []
        for record in records:
            if record["op"] in BOUNDARIES:
                self._resume_seq, self._resume = record["seq"], record["position"]
            if record["seq"] <= self._stream_last:
                continue
            body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
            # inside a transaction, (resume seq, resume) are still those of the one before it
            headers = {"Nats-Expected-Last-Sequence": str(record["seq"] - 1), "Nats-Msg-Id": f"{self._writer}:{record['seq']}",
                       RESUME_SEQ: str(self._resume_seq), RESUME: json.dumps(self._resume)}
            messages.append((record["seq"], body, headers))
        self._publish(messages)
        if messages:
            self.set("bytes", int(self.get("bytes", 0)) + sum(len(body) for _, body, _ in messages))

    def _publish(self, messages: list[tuple[int, bytes, dict[str, str]]]) -> None:
        """Publish in order, pipelined. What failed while the cluster fails over is published again (a
        message that did land is deduplicated by its id); a refused publish means another recorder
        wrote the stream."""
        js = self.link.js
        deadline = time.monotonic() + nats_link.RETRY_SECONDS
        while messages:
            async def all_of(pending: list[tuple[int, bytes, dict[str, str]]] = messages) -> list[Any]:
                return await asyncio.gather(*[js.publish(self.subject, body, headers=headers)
                                              for _, body, headers in pending], return_exceptions=True)

            outcomes = self.link.call(all_of)
            for (seq, _, _), outcome in zip(messages, outcomes):
                if isinstance(outcome, nats.js.errors.BadRequestError) and outcome.err_code == 10071:
                    raise FatalError("another host took this task over: its record stream moved past seq "
                                     f"{seq - 1} (this recorder stops)")
                if isinstance(outcome, BaseException):
                    if not self.link.transient(outcome):
                        raise outcome
                    if time.monotonic() > deadline:
                        raise unavailable(outcome) from outcome
                    time.sleep(0.2)
                    break
                self._stream_last = seq
            messages = [message for message in messages if message[0] > self._stream_last]

    def read(self, after: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (seq, JSON body) after `after`, led by a `gap` record when retention trimmed
        records after `after` (its seq is the last one lost)."""
        state = self._info().state
        trimmed = _trimmed(state)
        if after < trimmed:
            return [(trimmed, json.dumps(gap_record(after + 1, trimmed, time.time()), separators=(",", ":")))]
        messages = self._messages(range(after + 1, min(state.last_seq, after + limit) + 1))
        return [(seq, message.data.decode()) for seq, message in messages]

    def _messages(self, seqs: range) -> list[tuple[int, Any]]:
        """The messages at `seqs` that still exist, in order (fetched concurrently)."""
        js = self.link.js

        async def one(seq: int) -> Any:
            try:
                return await js.get_msg(self.stream, seq)
            except nats.js.errors.NotFoundError:
                return None

        async def all_of(chunk: range) -> list[Any]:
            return await asyncio.gather(*[one(seq) for seq in chunk])

        found: list[tuple[int, Any]] = []
        for start in range(seqs.start, seqs.stop, READ_CONCURRENCY):
            chunk = range(start, min(start + READ_CONCURRENCY, seqs.stop))
            found.extend((seq, message) for seq, message in zip(chunk, self.link.call(lambda: all_of(chunk)))
                         if message is not None)
        return found

    def _info(self) -> Any:
        return self.link.call(lambda: self.link.js.stream_info(self.stream))

    def _last_message(self) -> Any:
        try:
            return self.link.call(lambda: self.link.js.get_last_msg(self.stream, self.subject))
        except nats.js.errors.NotFoundError:
            return None

    def _commit_ts(self, seq: int | None) -> float | None:
        found = self._messages(range(seq, seq + 1)) if seq else []
        return json.loads(found[0][1].data)["commit_ts"] if found else None

    def retained(self) -> Retained:
        state = self._info().state
        first = state.first_seq if state.messages else None
        return Retained(first, state.last_seq, state.messages, int(self.get("bytes", 0)), self._commit_ts(first),
                        self._commit_ts(state.last_seq if state.messages else None), _trimmed(state))

    def commit_time_of(self, seq: int) -> float | None:
        return self._commit_ts(seq)

    def position_at(self, ts: float) -> int:
        """As SubscriptionStore.position_at: the first record committed at or after `ts` (its second)."""
        state = self._info().state
        retained_from = _trimmed(state)
        oldest = self._commit_ts(state.first_seq if state.messages else None)
        if retained_from and (oldest is None or ts < oldest):
            since = f"is from {iso_time(oldest)}" if oldest else "does not exist (all records were trimmed)"
            raise PositionTrimmed(
                f"records from {iso_time(ts)} are no longer retained: the oldest retained record {since}; "
                "ask for a later time, start from the earliest record, or raise `retention`")
        second = float(math.floor(ts))
        for start in range(retained_from + 1, state.last_seq + 1, READ_CONCURRENCY):
            for _, message in self._messages(range(start, min(start + READ_CONCURRENCY, state.last_seq + 1))):
                record = json.loads(message.data)
                if record["commit_ts"] >= ts or record["commit_ts"] == second:
                    begin = record["xid"] if record["xid"] is not None else record["seq"]
                    return max(begin - 1, retained_from)
        return state.last_seq

    # -- retention ------------------------------------------------------------------
    def scan(self, after: int, limit: int) -> list[tuple[int, float, int]]:
        """(seq, stored at, size) of up to `limit` records after `after` (at most SCAN_LIMIT: retention
        scans every second, one request per record), the newest excepted: retention keeps it, as it
        carries where the stream resumes."""
        limit = min(limit, SCAN_LIMIT)
        last = self._info().state.last_seq - 1
        return [(seq, message.time.timestamp() if message.time else time.time(), len(message.data))
                for seq, message in self._messages(range(after + 1, min(last, after + limit) + 1))]

    def trim(self, upto: int, freed: int) -> int:
        """Delete the records up to `upto` (one that `scan` returned); returns the last seq trimmed."""
        self.link.call(lambda: self.link.js.purge_stream(self.stream, seq=upto + 1))
        self.set("bytes", max(0, int(self.get("bytes", 0)) - freed))
        return upto

    # -- groups ---------------------------------------------------------------------
    @staticmethod
    def _key(name: str) -> str:
        return "g." + name.encode().hex()

    def groups(self) -> list[Group]:
        """The declared groups (the bucket's `g.` keys, listed from its stream's subjects)."""
        prefix = f"$KV.{self.stream}.g."
        info = self.link.call(lambda: self.link.js.stream_info(f"KV_{self.stream}", subjects_filter=prefix + ">"))
        keys = [subject[len(prefix):] for subject in (info.state.subjects or {})]
        found = [self._group(bytes.fromhex(key).decode()) for key in keys]
        return sorted((group for group, _ in found if group is not None), key=lambda group: group.name)

    def group(self, name: str) -> Group | None:
        return self._group(name)[0]

    def _group(self, name: str) -> tuple[Group | None, int]:
        try:
            entry = self.link.call(lambda: self.kv.get(self._key(name)))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None, 0
        if not entry.value:
            return None, 0
        return Group(**json.loads(entry.value)), entry.revision

    def sync_groups(self, declared: dict[str, str]) -> None:
        """Make the groups exactly `declared` (name -> where a new one starts); a removed one's offset
        and lease go with it."""
        existing = {group.name for group in self.groups()}
        for name in existing - set(declared):
            self.link.call(lambda: self.kv.purge(self._key(name)))
        for name in set(declared) - existing:
            start = self.last_seq() if declared[name] == "latest" else self.trimmed_upto()
            value = json.dumps(asdict(Group(name, start, None, None))).encode()
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # created meanwhile: keep it
                self.link.call(lambda: self.kv.create(self._key(name), value))

    def update_group(self, name: str, change: Callable[[Group], Group]) -> Group | None:
        """Apply `change` to the group atomically (compare-and-set, retried on a concurrent change);
        returns what is stored now, or None when the group is not declared."""
        while True:
            group, revision = self._group(name)
            if group is None:
                return None
            changed = change(group)
            if changed == group:
                return group
            value = json.dumps(asdict(changed)).encode()
            try:
                self.link.call(lambda: self.kv.update(self._key(name), value, last=revision))
                return changed
            except nats.js.errors.KeyWrongLastSequenceError:
                continue


def _trimmed(state: Any) -> int:
    """Every seq up to this was purged (a stream that never had a message reports first_seq 0)."""
    return max(state.first_seq, 1) - 1
