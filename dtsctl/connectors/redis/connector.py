"""The Redis engine as the keyspace and subscription pipelines see it (`CONNECTOR`, dtsctl.registry)."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from dtsctl.connectors.redis import _rdbcut, commands, resp
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.keyspace.interfaces import Heartbeat, KeyspaceSink, KeyspaceSource, Repairer
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import CheckResult, SourceFreeze
from dtsctl.engine.verification import ApplierWatch, ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.engine.progress import Progress
from dtsctl.engine.subscription.recorder import Recorder
from dtsctl.engine.subscription.store import SubscriptionStore
from dtsctl.engine.task import TaskSpec


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

    def precheck(self, spec: TaskSpec) -> list[CheckResult]:
        from dtsctl.connectors.redis.precheck import precheck

        return precheck(spec)

    def teardown(self, spec: TaskSpec) -> None:
        """Delete the heartbeat on the source and the checkpoint on the destination; nothing else."""
        with contextlib.suppress(ConnectionFailure):  # a source that is gone holds no heartbeat to remove
            self.heartbeat(spec).remove()
            self.repairer(spec).forget()
        if spec.destination_endpoint is not None:
            sink = self.sink(spec)
            try:
                sink.delete_checkpoint()
            finally:
                sink.close()

    def verify(self, spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]:
        from dtsctl.connectors.redis import verify

        sink = self.sink(spec)
        try:
            watch = ApplierWatch(sink.load_checkpoint, options.changelog, verify.position_order,
                                 verify.describe_position)
            return verify.verify(spec, options, progress, watch)
        finally:
            sink.close()

    def freeze(self, spec: TaskSpec) -> SourceFreeze:
        from dtsctl.connectors.redis.freeze import RedisFreeze

        return RedisFreeze(spec.source_endpoint)

    def source_position(self, spec: TaskSpec) -> Position:
        from dtsctl.connectors.redis.freeze import source_position

        return source_position(spec.source_endpoint)

    def wait_applied(self, spec: TaskSpec, position: Position, changelog: Path) -> None:
        from dtsctl.connectors.redis import verify

        sink = self.sink(spec)
        try:
            ApplierWatch(sink.load_checkpoint, changelog, verify.position_order,
                         verify.describe_position).wait_past(position)
        finally:
            sink.close()

    def subscription(self) -> "RedisSubscription":
        return RedisSubscription()

    def keys_of(self, args: Sequence[bytes]) -> list[bytes]:
        return commands.keys_of(args) or []

    def encode(self, args: Sequence[bytes]) -> bytes:
        return resp.encode(args)

    def decode(self, payload: bytes) -> Iterator[list[bytes]]:
        return resp.decode(payload)

    def count(self, payload: bytes) -> tuple[int, dict[int, int]]:
        return _rdbcut.count_commands(payload)


class RedisSubscription:
    """Subscriptions on a Redis source (dtsctl.engine.subscription.pipeline.KeyspaceSubscription)."""

    def source(self, spec: TaskSpec) -> KeyspaceSource:
        from dtsctl.connectors.redis.subscription import SubscriptionRedisSource

        return SubscriptionRedisSource(spec)

    def reader(self, spec: TaskSpec, changelog_path: Path, progress: Progress,
               appended: threading.Event) -> KeyspaceReader:
        from dtsctl.connectors.redis.subscription import make_reader

        return make_reader(spec, changelog_path, progress, appended)

    def recorder(self, store: SubscriptionStore, changelog: ChangeLog, set_phase: Callable[[str], Any]) -> Recorder:
        from dtsctl.connectors.redis.subscription import KeyspaceRecorder

        return KeyspaceRecorder(store, changelog, set_phase)

    def precheck(self, spec: TaskSpec) -> list[str]:
        from dtsctl.connectors.redis.subscription import precheck

        return precheck(spec)


CONNECTOR = RedisConnector()
