"""Cluster runtime at the agent level: a new owner on another host (its own task directory, no
change log) takes a task over from the destination checkpoint, and the former owner, frozen and
then thawed, can never commit again (the fencing token in the checkpoint row)."""

from __future__ import annotations

import signal

import pytest

from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.engine.errors import FatalError
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.agent_process import wait_for
from tests.integration.mysql.conftest import Pair, Task, Writer, create_orders, endpoint, wait_equal

NO_CONFLICTS = {"insert": 0, "update": 0, "delete": 0}


def owner(pair: Pair, token: int, first: Task | None = None) -> Task:
    """The task's agent as the owner with this fencing token runs it, on a host of its own."""
    task = pair.task(fencing_token=token)
    if first is not None:
        task.task_id = first.task_id
        task.write_config()
    return task


def fencing_tokens(pair: Pair, task: Task) -> list[int]:
    return [row[0] for row in pair.destination.query(
        "SELECT fencing_token FROM dtsctl_meta.checkpoints WHERE task_id = %s", (task.task_id,))]


def first_owner_under_load(pair: Pair) -> tuple[Task, Writer]:
    """The task running on its first owner (token 1), applying a live write load."""
    create_orders(pair.source, pair.source_db, 500)
    first = owner(pair, 1)
    first.apply()
    first.wait_incremental()
    writer = Writer(pair.source, pair.source_db, 1_000_000)
    writer.start()
    first.wait_status(lambda s: s["events_applied"] > 100, what="events applied")
    return first, writer


def test_new_owner_resumes_from_the_destination_checkpoint_without_loss_or_duplicates(pair):
    first, writer = first_owner_under_load(pair)
    try:
        assert first.kill() != 0  # the host dies: its change log is gone with it
        second = owner(pair, 2, first)  # conflict_policy fail: a change applied twice would stop it
        second.start()
        second.wait_incremental()
        second.wait_status(lambda s: s["events_applied"] > 400, what="events applied by the new owner")
    finally:
        writer.stop()
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    assert second.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS
    assert fencing_tokens(pair, second) == [2]
    assert "reading the source again from the destination checkpoint's position" in second.log.read_text()


def test_a_frozen_former_owner_never_commits_after_its_successor_started(pair):
    first, writer = first_owner_under_load(pair)
    try:
        assert first.process is not None
        first.process.send_signal(signal.SIGSTOP)  # frozen, not gone: it still holds its connections
        second = owner(pair, 2, first)
        second.start()
        second.wait_status(lambda s: s["phase"] == "incremental" and s["events_applied"] > 100,
                           what="the new owner applying")
        first.process.send_signal(signal.SIGCONT)  # it wakes up with a batch in hand
        assert first.process.wait(timeout=30) == EXIT_FATAL
    finally:
        writer.stop()
    assert "another host took this task over" in first.status()["last_error"]
    assert "stopping connection" in second.log.read_text()  # the frozen owner's open transaction ended
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    assert second.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS
    wait_for(lambda: fencing_tokens(pair, second) == [2], what="the newest owner's token in the checkpoint")


def test_a_checkpoint_write_under_an_older_token_is_refused_and_changes_nothing(pair):
    task_id = "fencing-unit"
    newer, older = MysqlSink(endpoint(pair.destination), task_id), MysqlSink(endpoint(pair.destination), task_id)
    try:
        older.save_checkpoint({"applied_seq": 1, "fencing_token": 1})  # a first write inserts the row
        newer.save_checkpoint({"applied_seq": 2, "fencing_token": 2})
        with pytest.raises(FatalError, match="another host took this task over"):
            older.save_checkpoint({"applied_seq": 3, "fencing_token": 1})
        assert newer.load_checkpoint() == {"applied_seq": 2, "fencing_token": 2}
        newer.save_checkpoint({"applied_seq": 4, "fencing_token": 2})  # its own token: written
        assert older.load_checkpoint()["applied_seq"] == 4
    finally:
        newer.delete_checkpoint()
        newer.close()
        older.close()
