"""verify for a managed task: its pipeline's comparison, waiting for its running agent's applier."""

from __future__ import annotations

from typing import Any, Sequence

from dtsctl.engine.verification import NoProgress, ObjectReport, VerifyOptions, VerifyProgress, opened
from dtsctl.runtime import lifecycle
from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import RuntimePaths


def verify_task(runtime: RuntimePaths, address: str, task_id: str, attributes: dict[str, Any],
                tables: Sequence[str] = (), repair: bool = False, progress: VerifyProgress = NoProgress(),
                changed_after: int | None = None) -> list[ObjectReport]:
    """Compare a task's ends (with `changed_after`, only what changed since `hold_changes` returned it).
    While its agent runs, differences are settled against its applier's position and a repair goes
    through its change log; otherwise nothing moves the destination."""
    changelog = runtime.changelog(address, attributes) if Agent(runtime, address).pid else None
    options = VerifyOptions(tuple(tables), repair, changelog, changed_after)
    return lifecycle.verify(attributes, task_id, options, progress)


def hold_changes(runtime: RuntimePaths, address: str, attributes: dict[str, Any], after: int | None = None) -> int:
    """Keep the task's changes after seq `after` (default: from now on) in its change log, applied or not,
    until `let_go`; returns that seq, for `verify_task(changed_after=...)`."""
    with opened(runtime.changelog(address, attributes)) as log:
        seq = log.last_seq() if after is None else after
        log.hold_after(seq)
        return seq


def change_log_end(runtime: RuntimePaths, address: str, attributes: dict[str, Any]) -> int:
    """The seq of the newest change in the task's change log."""
    with opened(runtime.changelog(address, attributes)) as log:
        return log.last_seq()


def let_go(runtime: RuntimePaths, address: str, attributes: dict[str, Any]) -> None:
    with opened(runtime.changelog(address, attributes)) as log:
        log.let_go()
