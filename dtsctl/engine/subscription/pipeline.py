"""The subscription pipeline: the source side of a table or key-value pipeline, into a record store.

Precheck, prepare and teardown are the source pipeline's (there is no destination);
the runner records the source's changes instead of applying them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Protocol

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.keyspace.interfaces import KeyspaceSource
from dtsctl.engine.keyspace.pipeline import KeyspacePipeline
from dtsctl.engine.keyspace.reader import KeyspaceReader
from dtsctl.engine.pipeline import CheckResult, Pipeline
from dtsctl.engine.progress import Progress
from dtsctl.engine.subscription.delivery import StreamTarget
from dtsctl.engine.subscription.recorder import Recorder
from dtsctl.engine.subscription.runner import (KeyspaceSubscriptionRunner, SubscriptionProgress,
                                               SubscriptionRunner)
from dtsctl.engine.subscription.spec import SubscriptionSpec
from dtsctl.engine.subscription import stores
from dtsctl.engine.subscription.store import StoreMissing, SubscriptionStore
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

MakeTarget = Callable[[], StreamTarget]


class KeyspaceSubscription(Protocol):
    """What a key-value connector provides for subscriptions (`connector.subscription()`)."""

    def source(self, spec: TaskSpec) -> KeyspaceSource: ...

    def reader(self, spec: TaskSpec, changelog_path: Path, progress: Progress,
               appended: threading.Event) -> KeyspaceReader: ...

    def recorder(self, store: SubscriptionStore, changelog: ChangeLog,
                 set_phase: Callable[[str], Any]) -> Recorder: ...

    def precheck(self, spec: TaskSpec) -> list[str]:
        """The problems that stop the subscription, each saying what to change."""


class SubscriptionPipeline(Pipeline):
    """A subscription on a table source (its capture is the table pipeline's)."""

    def __init__(self, spec: TaskSpec, source: Pipeline, subscription: SubscriptionSpec,
                 make_target: MakeTarget | None) -> None:
        super().__init__(spec)
        self.source = source
        self.subscription = subscription
        self.make_target = make_target  # where `deliver_to` records go, if anywhere

    def precheck(self, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
        return self.source.precheck(fed_by)

    def prepare(self) -> None:
        self.source.prepare()

    def teardown(self) -> None:
        self.source.teardown()
        try:
            stores.drop(self.subscription.record_store)
        except StoreMissing:
            pass  # never started, or torn down before

    def progress(self) -> Progress:
        return Progress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> SubscriptionRunner:
        return SubscriptionRunner(self, changelog_path, progress, stop, on_commit)


class KeyspaceSubscriptionPipeline(SubscriptionPipeline):
    """A subscription on a key-value source: its replica stream, recorded by the connector's recorder."""

    source: KeyspacePipeline

    def __init__(self, spec: TaskSpec, source: KeyspacePipeline, subscription: SubscriptionSpec,
                 make_target: MakeTarget | None) -> None:
        super().__init__(spec, source, subscription, make_target)
        self.support: KeyspaceSubscription = source.connector.subscription()

    def precheck(self, fed_by: tuple[str, ...] = ()) -> list[CheckResult]:
        try:
            self.support.source(self.spec).check_connection()
        except DtsError as exc:
            return [CheckResult("connectivity", False, str(exc))]
        return [CheckResult("objects", False, problem) for problem in self.support.precheck(self.spec)] or [
            CheckResult("connectivity", True, "source is reachable")]

    def progress(self) -> SubscriptionProgress:
        # a key-value source is read by the keyspace reader, which reports to a KeyspaceProgress
        return SubscriptionProgress()

    def runner(self, changelog_path: Path, progress: Progress, stop: threading.Event,
               on_commit: Callable[[], None]) -> KeyspaceSubscriptionRunner:
        return KeyspaceSubscriptionRunner(self, changelog_path, progress, stop, on_commit)
