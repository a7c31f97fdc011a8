"""The pipeline interface: what the runtime asks of a task around and during its agent's life.

One implementation per pipeline kind (dtsctl.engine.tables, dtsctl.engine.keyspace,
dtsctl.engine.subscription), each given its connector by the runtime (dtsctl.runtime.lifecycle),
so the engine itself never imports a connector.
"""

from __future__ import annotations

import contextlib
import enum
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.progress import Progress
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

NO_DESTINATION = "verify compares a source with a destination; a subscription task has none"


class Outcome(enum.Enum):
    COMPLETED = "completed"  # a migration finished: do not run again
    STOPPED = "stopped"  # asked to stop; resumable


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str  # for a failure: what is wrong and what to change
    warning: bool = False


@dataclass
class TableComparison:
    table: str  # source "db.table"
    destination: str  # destination "db.table"
    source_count: int
    destination_count: int | None  # None: the destination table does not exist
    checksums_equal: bool

    @property
    def ok(self) -> bool:
        return self.checksums_equal and self.source_count == self.destination_count


class Runner(Protocol):
    def run(self) -> Outcome:
        """Run from the committed checkpoints until stopped or completed; raise to be retried."""


class Pipeline(ABC):
    """One task's pipeline; every call is synchronous and works on the task's `spec`."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    @abstractmethod
    def precheck(self, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
        """Everything that would make the task fail at start, each with what to change. `fed_by`
        names the tasks whose destination this task reads: what they create need not exist yet."""

    def prepare(self) -> None:
        """Make the source ready before the agent starts (idempotent); nothing by default."""

    @abstractmethod
    def teardown(self) -> None:
        """Remove this task's own objects and bookkeeping on the endpoints; never user data."""

    def verify(self) -> list[TableComparison]:
        """Per selected object: counts on both ends and whether their checksums agree."""
        raise DtsError(NO_DESTINATION)

    @abstractmethod
    def progress(self) -> Progress:
        """The status the task's runner reports to."""

    @abstractmethod
    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> Runner:
        """The runner of one agent run."""


class EngineConnector(Protocol):
    """What a connector that does its engine's whole part offers around an agent's life."""

    def precheck(self, spec: TaskSpec) -> list[CheckResult]: ...

    def teardown(self, spec: TaskSpec) -> None: ...

    def verify(self, spec: TaskSpec) -> list[TableComparison]: ...


class ConnectorPipeline(Pipeline, ABC):
    """A pipeline whose connector prechecks, tears down and verifies (key-value, document)."""

    def __init__(self, spec: TaskSpec, connector: EngineConnector) -> None:
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
