"""The document pipeline around an agent's life: precheck, teardown and verify are the connector's.
Nothing to prepare: a change stream needs no capture objects on the source."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from dtsctl.engine.documents.interfaces import DocumentConnector
from dtsctl.engine.documents.runner import DocumentRunner
from dtsctl.engine.pipeline import ConnectorPipeline
from dtsctl.engine.progress import Progress


class DocumentPipeline(ConnectorPipeline):
    """Collections of a document engine into the same engine; the connector does the engine's part."""

    connector: DocumentConnector

    def progress(self) -> Progress:
        return Progress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> DocumentRunner:
        return DocumentRunner(self, changelog_path, progress, stop, on_commit)
