"""`run.window_start` / `run.window_end`: names a scheduled migration's filters may read.

They are known only when a run starts, so at plan time they render to placeholders
(`${ run.window_start }`) that stay in the task's attributes; the agent puts each
run's window in their place (`dtsctl.schedule.with_run_window`).
"""

from __future__ import annotations

from typing import Any

from dtsctl.config.template import Space, TemplateError
from dtsctl.schedule import RUN_FIELDS, placeholder


def run_space() -> Space:
    """The `run` namespace at plan time: each name reads as its placeholder."""

    def lookup(name: str) -> tuple[Any, bool]:
        if name not in RUN_FIELDS:
            raise TemplateError(f"unknown name `run.{name}`; a run has {' and '.join('run.' + f for f in RUN_FIELDS)}")
        return placeholder(name), False

    return Space("run", lookup)
