"""The Redis sink for a Redis Cluster destination: commands routed by slot, exactly once.

Redis Cluster runs a MULTI/EXEC only when every key in it hashes to one slot,
so a batch becomes one transaction per slot it touches, each also setting that
slot's checkpoint key (`dtsctl:checkpoint:<task id>:{tag}`, the tag chosen to
hash to the slot) to the batch's last seq. The task's checkpoint itself
(`dtsctl:checkpoint:<task id>`) is written once every slot's transaction is
done. After a crash the run resumes from it, and a slot skips commands at or
below its own seq, so no command is applied twice. A command whose keys hash to
different slots cannot run on a cluster and stops the task with the keys named.
"""
from __future__ import annotations

import json
from itertools import count
from typing import Any, Sequence

import hiredis
from redis.crc import key_slot

from dtsctl.connectors.redis.commands import keys_of
from dtsctl.connectors.redis.resp import RespConnection, encode, open_connection
from dtsctl.connectors.redis.selection import CHECKPOINT_PREFIX, OWN_PREFIX
from dtsctl.connectors.redis.sink import (REPLY_TIMEOUT_SECONDS, SCAN_COUNT, command_results, glob_escape,
                                          raise_for_aborted)
from dtsctl.engine.errors import ConnectionFailure, FatalError
from dtsctl.engine.keyspace.interfaces import Applied, Batch, Command, KeyspaceSink
from dtsctl.engine.task import TaskSpec

SLOTS = 16384
_MULTI, _EXEC = encode((b"MULTI",)), encode((b"EXEC",))
_SELECT = b"select"


class _Node:
    def __init__(self, address: str, conn: RespConnection) -> None:
        self.address = address
        self.conn = conn


class RedisClusterSink(KeyspaceSink):
    def __init__(self, spec: TaskSpec) -> None:
        super().__init__(spec)
        self.checkpoint_key = CHECKPOINT_PREFIX + spec.task_id
        self._nodes: list[_Node] | None = None
        self._slots: list[_Node] = []
        self._slot_keys: list[bytes] = []
        self._slot_seq: dict[int, int] = {}  # slot -> seq its checkpoint key names

    # -- topology -------------------------------------------------------------------------
    @property
    def nodes(self) -> list[_Node]:
        if self._nodes is None:
            self._connect()
        assert self._nodes is not None
        return self._nodes

    def _connect(self) -> None:
        seed = self._open(self.endpoint)
        try:
            ranges = seed.call("CLUSTER", "SLOTS")
        finally:
            seed.close()
        by_address: dict[str, _Node] = {}
        slots: list[_Node | None] = [None] * SLOTS
        for start, end, primary, *_ in ranges:
            address = f"{primary[0].decode()}:{primary[1]}"
            if address not in by_address:
                conn = self._open({**self.endpoint, "host": primary[0].decode(), "port": primary[1]})
                by_address[address] = _Node(address, conn)
            for slot in range(start, end + 1):
                slots[slot] = by_address[address]
        if any(node is None for node in slots):
            raise ConnectionFailure("the destination cluster does not cover all 16384 slots (cluster_state not ok)")
        self._slots = slots  # type: ignore[assignment]
        self._nodes = list(by_address.values())
        self._slot_keys = _slot_keys(f"{self.checkpoint_key}:")

    def _open(self, endpoint: dict[str, Any]) -> RespConnection:
        conn = open_connection(endpoint, "destination")
        conn.switch_to_replies()
        conn.settimeout(REPLY_TIMEOUT_SECONDS)
        return conn

    def _main(self) -> _Node:
        if self._nodes is None:
            self._connect()
        return self._slots[key_slot(self.checkpoint_key.encode())]

    def close(self) -> None:
        for node in self._nodes or []:
            node.conn.close()
        self._nodes = None

    def check_connection(self) -> None:
        for node in self.nodes:
            node.conn.call("PING")

    # -- checkpoints ----------------------------------------------------------------------
    def load_checkpoint(self) -> dict[str, Any] | None:
        raw = self._main().conn.call("GET", self.checkpoint_key)
        self._slot_seq = {}
        for node, key in self._own_keys():
            value = node.conn.call("GET", key)
            if value is not None:
                self._slot_seq[key_slot(key)] = int(value)
        return None if raw is None else json.loads(raw)

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._main().conn.call("SET", self.checkpoint_key, json.dumps(checkpoint))

    def delete_checkpoint(self) -> None:
        self._main().conn.call("DEL", self.checkpoint_key)
        for node, key in self._own_keys():
            node.conn.call("DEL", key)

    def _own_keys(self) -> list[tuple[_Node, bytes]]:
        pattern = glob_escape(f"{self.checkpoint_key}:")
        return [(node, key) for node in self.nodes for key in _scan(node.conn, pattern)]

    # -- applying -------------------------------------------------------------------------
    def apply(self, batch: Batch, checkpoint: dict[str, Any]) -> Applied:
        nodes = self.nodes
        by_slot: dict[int, list[Command]] = {}
        for command in batch.commands:
            if command.args[0].lower() == _SELECT:
                continue
            slot = self.slot_of(command)
            if command.seq > self._slot_seq.get(slot, 0):
                by_slot.setdefault(slot, []).append(command)
        seq = checkpoint["applied_seq"]
        sent: dict[str, list[list[Command]]] = {node.address: [] for node in nodes}
        buffers: dict[str, list[bytes]] = {node.address: [] for node in nodes}
        for slot, commands in by_slot.items():
            address = self._slots[slot].address
            buffers[address] += [_MULTI, *(encode(c.args) for c in commands),
                                 encode((b"SET", self._slot_keys[slot], seq)), _EXEC]
            sent[address].append(commands)
        for node in nodes:
            if buffers[node.address]:
                node.conn.send(b"".join(buffers[node.address]))
        applied = Applied()
        for node in nodes:
            for commands in sent[node.address]:
                reply = self._exec_reply(node, commands)
                applied.errors += reply.errors
                applied.vanished += reply.vanished
        for slot in by_slot:
            self._slot_seq[slot] = seq
        self.save_checkpoint(checkpoint)
        return applied

    def slot_of(self, command: Command) -> int:
        keys = keys_of(command.args)
        if not keys:
            name = command.args[0].decode(errors="replace").upper()
            raise FatalError(f"{name} has no key to route by; a Redis Cluster destination cannot apply it")
        slots = {key_slot(key) for key in keys}
        if len(slots) > 1:
            placed = ", ".join(f"{key.decode(errors='replace')} (slot {key_slot(key)})" for key in keys[:6])
            raise FatalError(
                f"CROSSSLOT: {command.args[0].decode(errors='replace').upper()} touches keys in different slots of "
                f"the destination cluster: {placed}; put related keys under one hash tag such as {{user:1}}"
            )
        return slots.pop()

    @staticmethod
    def _exec_reply(node: _Node, commands: list[Command]) -> Applied:
        queued: list[str] = []
        while True:
            reply = node.conn.read_reply()
            if isinstance(reply, list):
                return command_results(lambda: commands, reply)
            if isinstance(reply, hiredis.ReplyError):
                text = str(reply)
                if text.startswith("EXECABORT") or text.startswith("CROSSSLOT"):
                    if any(q.startswith(("MOVED", "ASK")) for q in queued):
                        raise ConnectionFailure(f"slots moved in the destination cluster ({queued[0]}); "
                                                "reloading the slot map")
                    raise_for_aborted(reply, queued, node.address)
                queued.append(text)
            elif reply is None:
                raise_for_aborted("EXEC returned nothing", queued, node.address)

    def clear(self, db: int, prefixes: Sequence[str] | None) -> int:
        deleted = 0
        for node in self.nodes:
            for pattern in [glob_escape(p) for p in prefixes] if prefixes is not None else ["*"]:
                doomed = [key for key in _scan(node.conn, pattern) if not key.startswith(OWN_PREFIX)]
                for start in range(0, len(doomed), SCAN_COUNT):  # one key per UNLINK: slots differ
                    chunk = doomed[start:start + SCAN_COUNT]
                    node.conn.send(b"".join(encode((b"UNLINK", key)) for key in chunk))
                    deleted += sum(node.conn.read_reply() for _ in chunk)
        return deleted


def _scan(conn: RespConnection, pattern: str) -> list[bytes]:
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, keys = conn.call("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
        found += keys
        if cursor == b"0":
            return found


def _slot_keys(prefix: str) -> list[bytes]:
    """For every slot, a key `<prefix>{tag}` that hashes to it."""
    keys: list[bytes | None] = [None] * SLOTS
    missing = SLOTS
    for tag in count():
        key = f"{prefix}{{{tag}}}".encode()
        slot = key_slot(key)
        if keys[slot] is None:
            keys[slot] = key
            missing -= 1
            if not missing:
                return keys  # type: ignore[return-value]
    raise AssertionError("unreachable")
