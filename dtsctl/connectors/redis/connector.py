"""The Redis engine as the keyspace pipeline sees it (dtsctl.engine.keyspace.registry)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Sequence

from dtsctl.connectors.redis import commands, resp

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.keyspace.interfaces import Heartbeat, KeyspaceSink, KeyspaceSource, Repairer
from dtsctl.engine.selection import TaskSpec

if TYPE_CHECKING:
    from dtsctl.engine.lifecycle import CheckResult, TableComparison


class RedisConnector:
    def source(self, spec: TaskSpec) -> KeyspaceSource:
        from dtsctl.connectors.redis.source import RedisSource

        return RedisSource(spec)

    def sink(self, spec: TaskSpec) -> KeyspaceSink:
        if (spec.destination_endpoint or {}).get("cluster"):
            from dtsctl.connectors.redis.cluster import RedisClusterSink

            return RedisClusterSink(spec)
        from dtsctl.connectors.redis.sink import RedisSink

        return RedisSink(spec)

    def heartbeat(self, spec: TaskSpec) -> Heartbeat:
        from dtsctl.connectors.redis.heartbeat import RedisHeartbeat

        return RedisHeartbeat(spec.source_endpoint, spec.task_id)

    def repairer(self, spec: TaskSpec) -> Repairer:
        from dtsctl.connectors.redis.repair import RedisRepairer

        return RedisRepairer(spec)

    def precheck(self, spec: TaskSpec) -> list["CheckResult"]:
        from dtsctl.connectors.redis.precheck import precheck

        return precheck(spec)

    def teardown(self, spec: TaskSpec) -> None:
        """Delete the heartbeat on the source and the checkpoint on the destination; nothing else."""
        with contextlib.suppress(ConnectionFailure):  # a source that is gone holds no heartbeat to remove
            self.heartbeat(spec).remove()
        if spec.destination_endpoint is not None:
            sink = self.sink(spec)
            try:
                sink.delete_checkpoint()
            finally:
                sink.close()

    def verify(self, spec: TaskSpec) -> list["TableComparison"]:
        from dtsctl.connectors.redis.verify import verify

        return verify(spec)


    def keys_of(self, args: Sequence[bytes]) -> list[bytes]:
        return commands.keys_of(args) or []

    def encode(self, args: Sequence[bytes]) -> bytes:
        return resp.encode(args)


CONNECTOR = RedisConnector()
