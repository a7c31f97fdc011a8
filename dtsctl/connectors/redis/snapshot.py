"""The snapshot's per-key work: walking the RDB and formatting a RESTORE for each selected key.

`SnapshotWalk` gives the selected entries of the RDB as its chunks arrive (subscriptions turn
them into their own records); `RestorePayloads` turns the RDB into change-log payloads of
RESTORE commands, most of it in compiled code (_rdbcut.c). Both run in the reader process,
which has a core of its own: the applier runs in the agent's process.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

from dtsctl.connectors.redis import _rdbcut, rdb
from dtsctl.connectors.redis.dump import RestoreCommand, restore_command
from dtsctl.connectors.redis.resp import encode
from dtsctl.connectors.redis.selection import OWN_PREFIX, DbRule, Selection

RECORD_COMMANDS = 2000  # how large a change-log record of the source grows
RECORD_BYTES = 1 << 20


class Walker(Protocol):
    """A snapshot being walked."""

    @property
    def done(self) -> bool:
        """The RDB's end marker was read."""

    @property
    def functions(self) -> bool:
        """The RDB holds function libraries (not replicated)."""

    @property
    def rest(self) -> bytes:
        """The bytes fed after the RDB's end marker."""

    def close(self) -> None: ...


class SnapshotWalk:
    """The selected entries of one RDB, fed in chunks as they arrive."""

    def __init__(self, objects: Sequence[dict[str, Any]], keep: bool) -> None:
        self.rdb = rdb.RdbReader()
        self._rules = Selection(objects).rules
        self._keep = keep  # False: the snapshot's data is dropped (phases without `full`), its end still found
        self.functions = False  # the RDB holds function libraries (not replicated)

    @property
    def done(self) -> bool:
        return self.rdb.done

    @property
    def rest(self) -> bytes:
        return self.rdb.rest

    def close(self) -> None:
        """Nothing to release."""

    def rule(self) -> DbRule | None:
        """The rule of the database the walk is in, None when none of its keys is kept."""
        return self._rules.get(self.rdb.db) if self._keep else None

    def selected(self, data: bytes) -> Iterator[tuple[DbRule, rdb.Entry]]:
        """The selected entries completed by `data`, each with its database's rule (the snapshot's
        per-key loop: what it needs is held in locals)."""
        self.rdb.feed(data)
        rules, keep = self._rules, self._keep
        for item in self.rdb.items():
            if type(item) is rdb.Entry:
                rule = rules.get(item.db)
                if keep and rule is not None and rule.wants(item.key):
                    yield rule, item
            elif isinstance(item, rdb.Function):
                self.functions = True


class RestorePayloads:
    """Change-log payloads of RESTORE commands: each starts with its SELECT and holds up to
    RECORD_COMMANDS commands or RECORD_BYTES bytes.

    The compiled cutter (_rdbcut.c) cuts the entries of the common types and formats their
    RESTOREs in one call per payload; what it leaves (opcodes, streams, module values,
    compressed keys, what it finds malformed) is read one item at a time by the Python walk,
    which formats an entry's RESTORE with dump.py or reports the problem."""

    def __init__(self, walk: SnapshotWalk, replace: bool) -> None:
        self._walk = walk
        self._replace = replace
        self._parts: list[bytes] = []
        self._db: int | None = None
        self._commands = 0
        self._size = 0
        self._restore: RestoreCommand | None = None

    @property
    def done(self) -> bool:
        return self._walk.done

    @property
    def functions(self) -> bool:
        return self._walk.functions

    @property
    def rest(self) -> bytes:
        return self._walk.rest

    def close(self) -> None:
        """Nothing to release."""

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`; the last chunk of the RDB flushes the rest."""
        payloads: list[bytes] = []
        reader, walk, replace = self._walk.rdb, self._walk, self._replace
        reader.feed(data)
        if not reader.read_header():
            return payloads
        version = reader.version or 0
        while not reader.done:
            rule = walk.rule()
            restores, count, position, stop = _rdbcut.cut(
                reader.buffer, reader.position, version, replace, rule is not None, OWN_PREFIX,
                rule.prefixes if rule else None, (rule.extend_ttl or 0) * 1000 if rule else 0,
                RECORD_COMMANDS - self._commands, RECORD_BYTES - self._size)
            reader.skip_to(position)
            if count:
                assert rule is not None
                self._add(rule.destination, restores, count, payloads)
            if stop == _rdbcut.NEED_MORE or (stop == _rdbcut.OTHER and not self._other(payloads)):
                break  # FULL: `_add` closed the payload
        if self._walk.done and self._parts:
            payloads.append(self._close())
        return payloads

    def _other(self, payloads: list[bytes]) -> bool:
        """Read the item the cutter left to the Python walk; False when more bytes are needed."""
        reader = self._walk.rdb
        complete, item = reader.step()
        if type(item) is rdb.Entry:
            rule = self._walk.rule()
            if rule is not None and rule.wants(item.key):
                if self._restore is None:
                    self._restore = restore_command(reader.version or 0, self._replace)
                expire_ms = item.expire_ms
                if expire_ms and rule.extend_ttl:
                    expire_ms += rule.extend_ttl * 1000
                self._add(rule.destination, self._restore(item.key, expire_ms or 0, item.type, item.encoding), 1,
                          payloads)
        elif isinstance(item, rdb.Function):
            self._walk.functions = True
        return complete

    def _add(self, db: int, restores: bytes, count: int, payloads: list[bytes]) -> None:
        if db != self._db:
            self._db = db
            self._parts.append(encode((b"SELECT", db)))
        self._parts.append(restores)
        self._commands += count
        self._size += len(restores)
        if self._commands >= RECORD_COMMANDS or self._size >= RECORD_BYTES:
            payloads.append(self._close())

    def _close(self) -> bytes:
        payload = b"".join(self._parts)
        self._parts.clear()
        self._db, self._commands, self._size = None, 0, 0
        return payload
