"""A task's Redis objects, and the translation of source commands into destination commands.

Objects are databases, each with an optional destination number (`rename`),
key prefixes and a TTL extension. dtsctl's own keys (`dtsctl:` prefix: this
and other tasks' heartbeats and checkpoints) are never replicated, so one-to-many
and cascade topologies do not copy each other's bookkeeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from dtsctl.connectors.redis.commands import CONTROL, extend_ttl, keys_of
from dtsctl.engine.errors import FatalError
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

OWN_PREFIX = b"dtsctl:"
HEARTBEAT_PREFIX = "dtsctl:heartbeat:"
CHECKPOINT_PREFIX = "dtsctl:checkpoint:"
# Set inside every MULTI/EXEC a two-way direction applies: the key names the writer's origin tag.
ORIGIN_PREFIX = "dtsctl:origin:"
# Written by a script on the source: a key's value sent again through the stream (repair.py).
REPAIR_PREFIX = "dtsctl:repair:"


def origin_key(tag: str) -> bytes:
    return (ORIGIN_PREFIX + tag).encode()


@dataclass(frozen=True)
class DbRule:
    source: int
    destination: int
    prefixes: tuple[bytes, ...] | None  # None: every key
    extend_ttl: int | None  # seconds added to every TTL on the destination

    def wants(self, key: bytes) -> bool:
        return not key.startswith(OWN_PREFIX) and (self.prefixes is None or key.startswith(self.prefixes))

    @property
    def prefix_strings(self) -> list[str] | None:
        return None if self.prefixes is None else [p.decode() for p in self.prefixes]


def _db_number(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise DtsError(f"Redis {what} `{value}` is not a database number; use 0, 1, 2, ...")
    return number


class Selection:
    def __init__(self, objects: Iterable[dict[str, Any]]) -> None:
        self.rules: dict[int, DbRule] = {}
        for selection in objects:
            source = _db_number(selection["database"], "database")
            if source in self.rules:
                raise DtsError(f"Redis database {source} is selected twice in `objects`; select each once")
            rename = selection.get("rename")
            prefixes = selection.get("key_prefixes")
            self.rules[source] = DbRule(
                source=source,
                destination=source if rename is None else _db_number(rename, "rename"),
                prefixes=None if prefixes is None else tuple(p.encode() for p in prefixes),
                extend_ttl=selection.get("extend_ttl_seconds") or None,
            )
        targets = [rule.destination for rule in self.rules.values()]
        if len(set(targets)) != len(targets):
            raise DtsError("two selected Redis databases map to the same destination database; fix `rename`")

    def rule(self, db: int) -> DbRule | None:
        return self.rules.get(db)

    @property
    def destination_dbs(self) -> list[int]:
        return sorted(rule.destination for rule in self.rules.values())


class Emitter(Protocol):
    """Where translated commands go (the source's record builder)."""

    def command(self, db: int, args: list[bytes], keys: Sequence[bytes] = (), received: bytes | None = None) -> None:
        """A destination command; `received`: its RESP bytes, when it is the source's command unchanged."""

    def clear(self, db: int, prefixes: list[str] | None) -> None: ...

    def heartbeat(self, value: bytes) -> None: ...


class Translator:
    """Source commands -> destination commands, tracking the source's selected database."""

    def __init__(self, selection: Selection, heartbeat_key: bytes, emit: Emitter, db: int = 0) -> None:
        self.selection = selection
        self.heartbeat_key = heartbeat_key
        self.emit = emit
        self.db = db
        self._warned: set[bytes] = set()

    def handle(self, args: list[bytes], received: bytes | None = None) -> None:
        """Translate one source command; `received`: its RESP bytes as the source sent them."""
        name = args[0].lower()
        if name in CONTROL:
            self._control(name, args)
            return
        if name in (b"move", b"copy"):
            self._cross_db(name, args)
            return
        keys = keys_of(args)
        if keys is None:
            raise FatalError(
                f"the source replicated `{args[0].decode(errors='replace')}`, a command dtsctl does not know "
                "the keys of; it cannot be filtered or routed safely (is a module in use?)"
            )
        if len(keys) == 1 and keys[0] == self.heartbeat_key:
            self.emit.heartbeat(_heartbeat_value(name, args))
            return
        repaired = repair_value_of(args)
        if repaired is not None:
            self._repair(repaired)
            return
        rule = self.selection.rule(self.db)
        if rule is None or not self._selected(rule, name, keys):
            return
        if rule.extend_ttl:
            self.emit.command(rule.destination, extend_ttl(args, rule.extend_ttl), keys)
        else:
            self.emit.command(rule.destination, args, keys, received)

    def _repair(self, value: bytes) -> None:
        """A key sent again by the source (any task's request: the value is the source's at this
        point of the stream, right for every destination that selects the key)."""
        key, args = restore_command(value)
        rule = self.selection.rule(self.db)
        if rule is not None and rule.wants(key):
            self.emit.command(rule.destination, extend_ttl(args, rule.extend_ttl) if rule.extend_ttl else args, [key])

    def _selected(self, rule: DbRule, name: bytes, keys: Sequence[bytes]) -> bool:
        if len(keys) == 1:  # most writes
            return rule.wants(keys[0])
        wanted = [key for key in keys if rule.wants(key)]
        if len(wanted) == len(keys):
            return True
        if not wanted:
            return False
        others = [key for key in keys if not rule.wants(key)]
        raise FatalError(
            f"{name.decode().upper()} in db {self.db} mixes selected keys ({_names(wanted)}) with keys outside "
            f"`key_prefixes` ({_names(others)}); it cannot be replicated in part: widen `key_prefixes`"
        )

    def _control(self, name: bytes, args: list[bytes]) -> None:
        if name == b"select":
            self.db = int(args[1])
        elif name == b"flushdb":
            self._flush([self.db], "FLUSHDB")
        elif name == b"flushall":
            self._flush(sorted(self.selection.rules), "FLUSHALL")
        elif name == b"swapdb":
            self._swapdb(int(args[1]), int(args[2]))
        elif name in (b"function", b"script") and name not in self._warned:
            self._warned.add(name)
            log.warning("the source ran %s; functions and scripts are not replicated (their effects are)",
                        name.decode().upper())
        # multi/exec are handled by the reader; ping, replconf and publish carry no data

    def _flush(self, dbs: list[int], what: str) -> None:
        for db in dbs:
            rule = self.selection.rule(db)
            if rule is None:
                continue
            log.warning("the source ran %s: clearing the selected keys of db %d on the destination (db %d)",
                        what, db, rule.destination)
            self.emit.clear(rule.destination, rule.prefix_strings)

    def _swapdb(self, first: int, second: int) -> None:
        a, b = self.selection.rule(first), self.selection.rule(second)
        if a is None and b is None:
            return
        if a is None or b is None or a.prefixes is not None or b.prefixes is not None:
            raise FatalError(
                f"the source swapped databases {first} and {second} (SWAPDB); dtsctl replicates that only when "
                "both are selected whole (no key_prefixes): select both, or replace the task to copy again"
            )
        self.emit.command(a.destination, [b"SWAPDB", str(a.destination).encode(), str(b.destination).encode()])

    def _cross_db(self, name: bytes, args: list[bytes]) -> None:
        """MOVE key db / COPY src dst [DB db] [REPLACE]: the key leaves, enters or moves within the selection."""
        lowered = [arg.lower() for arg in args]
        if name == b"move":
            keys, target = [args[1]], int(args[2])
        else:
            keys = [args[1], args[2]]
            target = int(args[lowered.index(b"db") + 1]) if b"db" in lowered[3:] else self.db
        here, there = self.selection.rule(self.db), self.selection.rule(target)
        leaves = here is not None and here.wants(keys[0])
        enters = there is not None and there.wants(keys[-1])
        if leaves and enters:
            assert here is not None and there is not None
            out = list(args)
            if name == b"move":
                out[2] = str(there.destination).encode()
            elif b"db" in lowered[3:]:
                out[lowered.index(b"db") + 1] = str(there.destination).encode()
            self.emit.command(here.destination, out, keys)
        elif leaves:
            assert here is not None
            if name == b"move":  # the key left the selection
                self.emit.command(here.destination, [b"DEL", keys[0]], keys[:1])
        elif enters:
            raise FatalError(
                f"{name.decode().upper()} brought key {_names(keys[:1])} from db {self.db}, outside the selection, "
                f"into db {target}, inside it; dtsctl cannot know its value: select db {self.db} too"
            )


def _heartbeat_value(name: bytes, args: list[bytes]) -> bytes:
    """The timestamp a heartbeat write carries (SETEX key ttl value, or SET key value PXAT ...)."""
    return args[3] if name in (b"setex", b"psetex") else args[2] if len(args) > 2 else b""


def _names(keys: Sequence[bytes], limit: int = 5) -> str:
    shown = ", ".join(key.decode(errors="replace") for key in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def restore_command(value: bytes) -> tuple[bytes, list[bytes]]:
    """(key, destination command) from a repair marker's value: RESTORE … REPLACE [ABSTTL], or DEL."""
    at_text, length_text, rest = value.split(b" ", 2)
    at, length = int(at_text), int(length_text)
    key, payload = rest[:length], rest[length:]
    if at == -2:
        return key, [b"DEL", key]
    if at < 0:
        return key, [b"RESTORE", key, b"0", payload, b"REPLACE"]
    return key, [b"RESTORE", key, str(at).encode(), payload, b"REPLACE", b"ABSTTL"]


def repair_value_of(args: list[bytes]) -> bytes | None:
    """The value of `SET dtsctl:repair:<task> <value> …`, else None."""
    if args[0].lower() == b"set" and len(args) > 2 and args[1].startswith(REPAIR_PREFIX.encode()):
        return args[2]
    return None

