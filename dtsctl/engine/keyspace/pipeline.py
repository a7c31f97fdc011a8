"""The key-value pipeline around an agent's life: precheck, teardown, verify, and its runner."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from dtsctl.engine.keyspace.interfaces import KeyspaceConnector
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.keyspace.runner import KeyspaceRunner
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import ConnectorPipeline, SourceFreeze
from dtsctl.engine.progress import Progress


class KeyspacePipeline(ConnectorPipeline):
    """A key space into a key space of the same engine; the connector does the engine's part.
    Nothing to prepare: a replica connection needs no capture objects on the source."""

    connector: KeyspaceConnector

    def freeze_source(self, drain_seconds: float) -> SourceFreeze:
        return self.connector.freeze(self.spec)

    def source_position(self) -> Position:
        return self.connector.source_position(self.spec)

    def wait_applied(self, position: Position, changelog: Path) -> None:
        self.connector.wait_applied(self.spec, position, changelog)

    def progress(self) -> KeyspaceProgress:
        return KeyspaceProgress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> KeyspaceRunner:
        assert isinstance(progress, KeyspaceProgress)
        return KeyspaceRunner(self, changelog_path, progress, stop, on_commit)
