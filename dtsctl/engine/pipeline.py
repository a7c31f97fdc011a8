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
from dtsctl.engine.events import Position
from dtsctl.engine.progress import Progress
from dtsctl.engine.task import TaskSpec
from dtsctl.engine.verification import NoProgress, ObjectReport, VerifyOptions, VerifyProgress
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


class SourceFreeze(Protocol):
    """Writes on a task's source held off (a cutover), and where its stream then ends."""

    final_position: Position  # every change the source committed is at or before it
    describe: str  # the final position, for people

    def unfreeze(self) -> None:
        """Let writes through again (idempotent)."""

    def leave_frozen(self) -> None:
        """End the cutover's hold on the source, which stays frozen where the engine allows it."""


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

    def verify(self, options: VerifyOptions = VerifyOptions(), progress: VerifyProgress = NoProgress()
               ) -> list[ObjectReport]:
        """Per selected object: what differs between the ends (dtsctl.engine.verification), and with
        `options.repair`, what was rewritten."""
        raise DtsError(NO_DESTINATION)

    def freeze_source(self, drain_seconds: float) -> SourceFreeze:
        """Hold off writes on the source, let open write transactions end (up to `drain_seconds`), and
        return where its stream ends."""
        raise DtsError(f"dtsctl cannot freeze writes on a {self.spec.source_endpoint.get('engine')} source")

    def source_position(self) -> Position:
        """The source's stream position now (a reverse task starts at its destination's)."""
        raise DtsError(f"dtsctl cannot read the stream position of a {self.spec.source_endpoint.get('engine')} source")

    def wait_applied(self, position: Position, changelog: Path) -> None:
        """Return once the task's applier has applied every source change up to `position`."""
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

    def verify(self, spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]: ...


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

    def verify(self, options: VerifyOptions = VerifyOptions(), progress: VerifyProgress = NoProgress()
               ) -> list[ObjectReport]:
        if self.spec.destination_endpoint is None:
            raise DtsError(NO_DESTINATION)
        return self.connector.verify(self.spec, options, progress)
