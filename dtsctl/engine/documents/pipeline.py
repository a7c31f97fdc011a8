"""The document pipeline around an agent's life: precheck, teardown, verify, and its runner.
Nothing to prepare: a change stream needs no capture objects on the source."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable

from dtsctl.engine.documents.interfaces import DocumentConnector
from dtsctl.engine.documents.runner import DocumentRunner
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.pipeline import NO_DESTINATION, CheckResult, Pipeline, TableComparison
from dtsctl.engine.progress import Progress
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError


class DocumentPipeline(Pipeline):
    """Collections of a document engine into the same engine; the connector does the engine's part."""

    def __init__(self, spec: TaskSpec, connector: DocumentConnector) -> None:
        super().__init__(spec)
        self.connector = connector

    def precheck(self, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
        return self.connector.precheck(self.spec)

    def teardown(self) -> None:
        with contextlib.suppress(ConnectionFailure):  # an endpoint that is gone holds nothing to remove
            self.connector.teardown(self.spec)

    def verify(self) -> list[TableComparison]:
        if self.spec.destination_endpoint is None:
            raise DtsError(NO_DESTINATION)
        return self.connector.verify(self.spec)

    def progress(self) -> Progress:
        return Progress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> DocumentRunner:
        return DocumentRunner(self, changelog_path, progress, stop, on_commit)
