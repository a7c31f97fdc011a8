"""The snapshot's per-key work: walking the RDB and formatting a RESTORE for each selected key.

`SnapshotWalk` gives the selected entries of the RDB as its chunks arrive (subscriptions turn
them into their own records); `RestorePayloads` turns them into change-log payloads of
RESTORE commands. Both run in the reader process, which has a core of its own: the applier
runs in the agent's process.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.dump import RestoreCommand, restore_command
from dtsctl.connectors.redis.resp import encode
from dtsctl.connectors.redis.selection import DbRule, Selection

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
    RECORD_COMMANDS commands or RECORD_BYTES bytes."""

    def __init__(self, walk: SnapshotWalk, replace: bool) -> None:
        self._walk = walk
        self._replace = replace
        self._parts: list[bytes] = []
        self._db: int | None = None
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
        parts, size, db = self._parts, self._size, self._db
        restore = self._restore
        for rule, (_, key, kind, encoding, expire_ms) in self._walk.selected(data):
            if restore is None:  # the RDB's version is known once its header is read
                restore = self._restore = restore_command(self._walk.rdb.version or 0, self._replace)
            if rule.destination != db:
                db = rule.destination
                parts.append(encode((b"SELECT", db)))
            if expire_ms and rule.extend_ttl:
                expire_ms += rule.extend_ttl * 1000
            command = restore(key, expire_ms or 0, kind, encoding)
            parts.append(command)
            size += len(command)
            if len(parts) > RECORD_COMMANDS or size >= RECORD_BYTES:  # parts: the RESTOREs and a SELECT
                payloads.append(self._close())
                size, db = 0, None
        self._size, self._db = size, db
        if self._walk.done and parts:
            payloads.append(self._close())
        return payloads

    def _close(self) -> bytes:
        payload = b"".join(self._parts)
        self._parts.clear()
        self._db, self._size = None, 0
        return payload
