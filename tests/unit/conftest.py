"""A real store fed through the real change log and recorder, without an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import ChangeEvent, Transaction
from dtsctl.engine.subscription.recorder import Recorder
from dtsctl.engine.subscription.store import STORE_FILE, SubscriptionStore


def tx(position: int, *events: tuple[str, dict[str, Any] | None, dict[str, Any] | None],
       commit_time: float = 1_700_000_000.0) -> Transaction:
    changes = tuple(ChangeEvent("main", "orders", op, before, after, commit_time, position * 100 + index)
                    for index, (op, before, after) in enumerate(events))
    return Transaction(changes, position, commit_time)


class Feed:
    """Appends transactions to a change log and records them into the task's store."""

    def __init__(self, task_dir: Path) -> None:
        self.task_dir = task_dir
        self.changelog = ChangeLog(task_dir / "changelog.db")
        self.store = SubscriptionStore(task_dir / STORE_FILE)
        self.recorder = Recorder(self.store, self.changelog)
        self.position = 0

    def add(self, *transactions: Transaction) -> None:
        self.position = transactions[-1].position
        self.changelog.append(list(transactions), self.position)
        while self.recorder.record_next():
            pass

    def inserts(self, count: int, commit_time: float = 1_700_000_000.0) -> None:
        """`count` one-row transactions (begin, insert, commit: three records each)."""
        self.add(*(tx(self.position + i + 1, ("insert", None, {"id": self.position + i + 1}),
                      commit_time=commit_time) for i in range(count)))


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    made = Feed(tmp_path)
    yield made
    made.store.close()
    made.changelog.close()
