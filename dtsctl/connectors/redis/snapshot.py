"""The snapshot's per-key work: walking the RDB and formatting a RESTORE for each selected key.

`SnapshotWalk` walks in the calling thread (subscriptions use it for their own records).
`RestoreWorker` runs the walk and the RESTORE formatting in a child process: that work is
most of the snapshot's CPU, and in the agent's process it would share one core (the GIL)
with the applier sending the batches. The agent's reader thread hands each chunk of RDB
bytes over a pipe and gets the change-log payloads back, in order.

The child is started while the source saves its RDB, and it exits when the pipe closes:
when the snapshot ends, the source closes, or the agent dies (even by kill -9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Iterator, Protocol, Sequence

from dtsctl.connectors.redis import rdb
from dtsctl.connectors.redis.dump import restore_command, select_command
from dtsctl.connectors.redis.selection import DbRule, Selection
from dtsctl.engine.errors import ConnectionFailure

RECORD_COMMANDS = 2000  # how large a change-log record of the source grows
RECORD_BYTES = 1 << 20


class Walker(Protocol):
    """A snapshot being walked: in this thread, or in a child process."""

    done: bool
    functions: bool

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

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`; the last chunk of the RDB flushes the rest."""
        payloads: list[bytes] = []
        parts, replace = self._parts, self._replace
        version = b""
        for rule, entry in self._walk.selected(data):
            version = version or int(self._walk.rdb.version or 0).to_bytes(2, "little")
            if rule.destination != self._db:
                self._db = rule.destination
                parts.append(select_command(self._db))
            ttl = entry.expire_ms or 0
            if ttl and rule.extend_ttl:
                ttl += rule.extend_ttl * 1000
            command = restore_command(entry.key, ttl, entry.type, entry.encoding, version, replace)
            parts.append(command)
            self._size += len(command)
            if len(parts) > RECORD_COMMANDS or self._size >= RECORD_BYTES:  # parts: the RESTOREs and a SELECT
                payloads.append(self._close())
        if self._walk.done and parts:
            payloads.append(self._close())
        return payloads

    def _close(self) -> bytes:
        payload = b"".join(self._parts)
        self._parts.clear()
        self._db, self._size = None, 0
        return payload


class RestoreWorker:
    """`RestorePayloads` in a child process (`python -m dtsctl.connectors.redis.snapshot`): each
    chunk of RDB bytes goes down its stdin, the payloads it completed come back on its stdout
    (multiprocessing's framing: a length, then the bytes, read and written whole)."""

    def __init__(self, objects: Sequence[dict[str, Any]], keep: bool, replace: bool) -> None:
        settings = json.dumps({"objects": objects, "keep": keep, "replace": replace})
        self._process = subprocess.Popen([sys.executable, "-m", __name__, settings],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self.done = False
        self.functions = False

    def feed(self, data: bytes) -> list[bytes]:
        """The payloads completed by `data`; raises what the walk raised (RdbError for a bad RDB)."""
        try:
            self._requests.send_bytes(data)
            payloads, self.done, self.functions, error = self._answers.recv()
        except (EOFError, OSError):
            raise ConnectionFailure("the snapshot's RDB walk stopped unexpectedly (its process exited)") from None
        if error is not None:
            raise rdb.RdbError(error)
        return payloads

    def close(self) -> None:
        """Closing its stdin ends the child."""
        self._requests.close()
        self._answers.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _serve(settings: dict[str, Any], requests: Connection, answers: Connection) -> None:
    """The child: answers each chunk until its stdin closes."""
    walk = SnapshotWalk(settings["objects"], settings["keep"])
    restores = RestorePayloads(walk, settings["replace"])
    while True:
        try:
            data = requests.recv_bytes()
        except EOFError:
            return
        try:
            answers.send((restores.feed(data), walk.done, walk.functions, None))
        except rdb.RdbError as exc:
            answers.send(([], walk.done, walk.functions, str(exc)))


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]), Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False))
