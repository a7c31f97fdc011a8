"""Carry out a declared cutover, each step reported with its duration.

1. precheck: the task streams (incremental) with lag under `max_lag`, and a reverse task would pass
   its own precheck; then, while replication runs, a full verify (its changes from then on are held
   in the change log), and verifies of only what changed during the one before, until one is short;
   2. freeze writes on the source and record its final position; 3. wait until
   the applier has applied exactly up to it (position, not lag); 4. verify the rows (keys) the held
   changes name, so the freeze lasts as long as the changes made meanwhile take to compare, not
   the database; 5. mark the task completed; the write downtime is freeze -> completed. Then the caller records the task, creates
   the reverse task at the destination's position at the switch, and `finish` unfreezes the source
   if asked. If anything fails before the task is completed, the source is unfrozen and the task
   keeps running: nothing is lost, and apply can be run again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator

from dtsctl.config.cutover import before_cutover
from dtsctl.config.model import Cutover
from dtsctl.config.resources import DesiredResource
from dtsctl.engine.events import Position
from dtsctl.engine.pipeline import SourceFreeze
from dtsctl.errors import DtsError
from dtsctl.orchestrate.task_ops import create_task, run_precheck
from dtsctl.runtime import lifecycle
from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.verification import change_log_end, hold_changes, let_go, verify_task

DRAIN_SECONDS = 30.0  # how long open write transactions may take to end after the freeze
NARROWING_PASSES = 4  # verifies of what changed meanwhile, before the freeze
SHORT_PASS_SECONDS = 1.0  # a pass this short leaves little for the one in the freeze
REVERSE_START_SECONDS = 60.0
# A task that has just entered incremental with changes to apply shows no lag until it applies
# its first one (docs/operations.md): the precheck waits this long for it before refusing.
LAG_KNOWN_SECONDS = 15.0


class CutoverRun:
    def __init__(self, runtime: RuntimePaths, resource: DesiredResource, task_id: str,
                 report: Callable[[str], None]) -> None:
        self.runtime = runtime
        self.resource = resource
        self.task_id = task_id
        self.options = Cutover.model_validate(resource.attributes["cutover"])
        self.agent = Agent(runtime, resource.address)
        self._report = report
        self._freeze: SourceFreeze | None = None

    def switch(self, reverse: DesiredResource | None, reverse_id: str | None) -> Position | None:
        """Steps 1 to 5; returns the reverse task's start (its source's position at the switch), if any."""
        attributes = self.resource.attributes
        with self._step("precheck"):
            self._precheck_lag()
            lifecycle.source_position(attributes, self.task_id)  # the source answers (and its code is loaded)
            if reverse is not None and reverse_id is not None:
                run_precheck(reverse.address, reverse.attributes, reverse_id, reverse.reads_from)
        address = self.resource.address
        held = hold_changes(self.runtime, address, attributes)
        try:
            if self.options.verify:
                with self._step("verify everything before the freeze (replication running)"):
                    self._verify("before the freeze")
                held = self._narrow(held)
            frozen_at = time.monotonic()
            with self._step("freeze writes on the source" if self.options.freeze_source else "read the source's position"):
                final, described = self._final_position()
            self._report(f"{address}:   final source position {described}")
            with self._step("wait until the applier has applied exactly up to it"):
                lifecycle.wait_applied(attributes, self.task_id, final, self.runtime.changelog(address, attributes))
            start = lifecycle.source_position(reverse.attributes, reverse_id) if reverse and reverse_id else None
            if self.options.verify:
                with self._step("verify the rows changed since, in the freeze"):
                    self._verify("after the drain", changed_after=held)
            with self._step("mark the task completed"):
                self.agent.complete()
        except BaseException:
            self._unfreeze("the cutover stopped; the task keeps running and nothing was lost")
            raise
        finally:
            let_go(self.runtime, address, attributes)
        downtime = time.monotonic() - frozen_at
        what = "write downtime (freeze to completed)" if self.options.freeze_source else "switch (no freeze)"
        self._report(f"{self.resource.address}: {what}: {downtime:.2f}s")
        return start

    def create_reverse(self, reverse: DesiredResource, reverse_id: str, start: Position) -> None:
        with self._step(f"create {reverse.address} from the switch position"):
            started = dataclasses.replace(reverse, attributes={**reverse.attributes, lifecycle.START_POSITION: start})
            create_task(Agent(self.runtime, reverse.address), reverse_id, started)

    def await_reverse(self, reverse: DesiredResource) -> None:
        """Return once the reverse task streams: an engine whose stream cannot start at a given position
        (Redis) starts where its source stands then, so apply returns only after (and after `finish`,
        since a frozen Redis source holds off the reverse task's writes too)."""
        agent = Agent(self.runtime, reverse.address)
        with self._step(f"{reverse.address} streams"):
            deadline = time.monotonic() + REVERSE_START_SECONDS
            while not agent.view().reached("incremental"):
                if time.monotonic() > deadline or agent.view().state == "failed":
                    raise DtsError(f"{reverse.address} did not start streaming within {REVERSE_START_SECONDS:g}s "
                                   f"({agent.view().last_error or 'see dtsctl logs ' + reverse.address}); the cutover "
                                   "itself is done")
                time.sleep(0.05)

    def finish(self) -> None:
        """Unfreeze the source if the declaration asks; else end the hold, leaving it frozen."""
        if self._freeze is None:
            return
        if self.options.unfreeze_source:
            self._unfreeze("as declared (unfreeze_source)")
        else:
            self._freeze.leave_frozen()
            self._freeze = None
            self._report(f"{self.resource.address}: the source stays frozen (the application writes to the "
                         "destination now)")

    # -- steps ----------------------------------------------------------------------
    def _precheck_lag(self) -> None:
        deadline = time.monotonic() + LAG_KNOWN_SECONDS
        while True:
            view = self.agent.view()
            if view.state != "running" or view.phase != "incremental":
                raise DtsError(f"{self.resource.address}: a cutover needs the task running in incremental; it is "
                               f"{view.state} in {view.phase or 'no phase yet'}. Wait (`dtsctl wait "
                               f"{self.resource.address} --phase incremental`) and apply again")
            lag = view.status.get("lag_seconds")
            if lag is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if lag is None or lag > self.options.max_lag:
            raise DtsError(f"{self.resource.address}: lag is {'unknown' if lag is None else f'{lag:.1f}s'}, over the "
                           f"cutover's max_lag of {self.options.max_lag:g}s; apply again when it has caught up")

    def _narrow(self, held: int) -> int:
        """Verify what changed during the previous verify, while replication runs, until a pass is
        short: each compares only the changes made during the one before, so the last one, in the
        freeze, has few left. Returns the seq the changes still to compare follow."""
        address, attributes = self.resource.address, self.resource.attributes
        for _ in range(NARROWING_PASSES):
            started = time.monotonic()
            end = change_log_end(self.runtime, address, attributes)
            with self._step(f"verify the rows changed since (change log after {held})"):
                self._verify("before the freeze", changed_after=held)
            held = hold_changes(self.runtime, address, attributes, after=end)
            if time.monotonic() - started < SHORT_PASS_SECONDS:
                break
        return held

    def _final_position(self) -> tuple[Position, str]:
        attributes = self.resource.attributes
        if not self.options.freeze_source:
            position = lifecycle.source_position(attributes, self.task_id)
            return position, str(position)
        self._freeze = lifecycle.freeze_source(attributes, self.task_id, DRAIN_SECONDS)
        return self._freeze.final_position, self._freeze.describe

    def _verify(self, when: str, changed_after: int | None = None) -> None:
        reports = verify_task(self.runtime, self.resource.address, self.task_id, self.resource.attributes,
                              changed_after=changed_after)
        different = [report for report in reports if not report.ok]
        if different:
            found = "; ".join(f"{r.table}: {len(r.missing)} missing, {len(r.extra)} extra, {len(r.different)} different"
                              for r in different)
            raise DtsError(f"{self.resource.address}: verify found differences {when} ({found}); "
                           f"see `dtsctl verify {self.resource.address}`, repair them (--repair) and apply again")

    def _unfreeze(self, why: str) -> None:
        if self._freeze is not None:
            self._freeze.unfreeze()
            self._freeze = None
            self._report(f"{self.resource.address}: the source was unfrozen ({why})")

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self._report(f"{self.resource.address}: {what} ({time.monotonic() - started:.2f}s)")


def recorded_before_cutover(resource: DesiredResource) -> DesiredResource:
    """The resource as recorded when created: its cutover is still to come."""
    return dataclasses.replace(resource, attributes=before_cutover(resource.attributes))
