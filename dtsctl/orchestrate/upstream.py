"""Before a task that reads another task's destination starts: wait for that task's tables.

The upstream task creates them in its schema phase; the downstream task's
precheck and copy need them on its source (see dtsctl.config.dataflow).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from typing import Any

from dtsctl.errors import DtsError

SCHEMA_WAIT_SECONDS = 600.0
POLL_SECONDS = 0.2


def wait_for_upstream_schema(agent: Any, address: str, report: Callable[[str], None],
                             timeout: float = SCHEMA_WAIT_SECONDS) -> None:
    """Return once `agent`'s task (upstream of `address`) is past its schema phase, or is paused (it
    creates nothing then, and `address` starts on what its source holds). Raise a DtsError when it
    fails or stops, or on timeout."""
    upstream = agent.address
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        view = agent.view()
        if view.state == "paused" or view.reached("full"):
            return
        if view.state in ("failed", "stopped"):
            raise DtsError(
                f"{address}: not started because {upstream}, whose destination it reads, is {view.state} before "
                f"creating its tables ({view.last_error or 'no error recorded'}); fix it, then run `dtsctl apply` again"
            )
        if time.monotonic() >= deadline:
            raise DtsError(
                f"{address}: waited {timeout:g}s for {upstream} to create its tables (it is {view.state}, phase "
                f"{view.phase or '-'}); see `dtsctl logs {upstream}`, then run `dtsctl apply` again"
            )
        if not announced:
            report(f"{address}: waiting for {upstream} to create its tables...")
            announced = True
        time.sleep(POLL_SECONDS)
