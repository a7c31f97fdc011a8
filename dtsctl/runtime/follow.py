"""Reading an agent's log: the last lines, then new ones as they are written."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path


def last_lines(path: Path, count: int) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=max(count, 0))]


def follow_lines(path: Path, poll_seconds: float = 0.25) -> Iterator[str]:
    """Yield lines appended to `path` from now on, until interrupted."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(0, 2)
        pending = ""
        while True:
            chunk = handle.readline()
            if not chunk:
                time.sleep(poll_seconds)
                continue
            pending += chunk
            if pending.endswith("\n"):
                yield pending.rstrip("\n")
                pending = ""
