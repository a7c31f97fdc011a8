"""verify for a managed task: its pipeline's comparison, waiting for its running agent's applier."""

from __future__ import annotations

from typing import Any, Sequence

from dtsctl.engine.verification import NoProgress, ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.runtime import lifecycle
from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import RuntimePaths


def verify_task(runtime: RuntimePaths, address: str, task_id: str, attributes: dict[str, Any],
                tables: Sequence[str] = (), repair: bool = False,
                progress: VerifyProgress = NoProgress()) -> list[ObjectReport]:
    """Compare a task's ends. While its agent runs, differences are settled against its applier's
    position and a repair goes through its change log; otherwise nothing moves the destination."""
    changelog = runtime.changelog(address, attributes) if Agent(runtime, address).pid else None
    return lifecycle.verify(attributes, task_id, VerifyOptions(tuple(tables), repair, changelog), progress)
