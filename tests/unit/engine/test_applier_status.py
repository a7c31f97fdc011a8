"""Each destination of a shared change log reports its own checkpoint and lag (issue 11, item 9)."""

from __future__ import annotations

import time

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.keyspace.progress import KeyspaceProgress
from dtsctl.engine.progress import Progress
from dtsctl.engine.applier_status import ApplierStatus
from tests.unit.engine.test_changelog import _tx


def _report(log: ChangeLog, progress: Progress, applied_seq: int, applied_commit_time: float) -> dict:
    """What a destination that applied up to `applied_seq` shows, as its runner reports it."""
    progress.set_phase("incremental")
    progress.committed(Checkpoint(applied_seq=applied_seq, applied_commit_time=applied_commit_time),
                       caught_up=applied_seq >= log.last_seq())
    also = (lambda changelog: progress.heartbeat_read(changelog.heartbeat_seen())) \
        if isinstance(progress, KeyspaceProgress) else (lambda changelog: None)
    ApplierStatus(log, progress, lambda position: f"pos {position}", True, also).refresh(applied_seq)
    return progress.snapshot()


def test_a_destination_behind_shows_the_position_and_lag_of_what_it_applied(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1, 100.0), _tx(2, 104.0), _tx(3, 107.5)], 3)
    behind = _report(log, Progress(), 1, 100.0)
    caught_up = _report(log, Progress(), 3, 107.5)
    assert (behind["checkpoint"], behind["lag_seconds"]) == ("pos 1", 7.5)
    assert (caught_up["checkpoint"], caught_up["lag_seconds"]) == ("pos 3", 0.0)


def test_a_trimmed_change_keeps_the_checkpoint_shown(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1), _tx(2), _tx(3)], 3)
    progress = Progress()
    _report(log, progress, 1, 100.0)
    log.trim(2)
    assert log.applied_position(1) == (False, None)
    assert _report(log, progress, 1, 100.0)["checkpoint"] == "pos 1"


def test_a_destination_that_joined_at_a_change_trimmed_since_shows_its_position(tmp_path):
    """A one-to-many destination started after the others joins the log at its newest change; when
    they trim past it before its first change, it must still show a checkpoint (was None)."""
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1), _tx(2), _tx(3)], 3)
    log.append([_tx(4)], 4)
    log.trim(3)
    assert log.applied_position(3) == (True, 3)
    assert _report(log, Progress(), 3, 100.0)["checkpoint"] == "pos 3"


def test_a_redis_destination_measures_its_lag_with_the_heartbeat_the_reader_kept_in_the_log(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1)], 1)
    progress = KeyspaceProgress()
    progress.heartbeat_written(True)
    assert _report(log, progress, 1, 100.0)["lag_seconds"] is None, "no heartbeat read back yet"
    log.set_heartbeat_seen(time.time() - 3.0)
    progress = KeyspaceProgress()
    progress.heartbeat_written(True)
    assert 1.9 <= _report(log, progress, 1, 100.0)["lag_seconds"] <= 2.5


def test_a_destination_at_a_change_its_peers_released_shows_its_position(tmp_path):
    """One-to-many: the others release (trim) the shared log up to the change a destination
    stands at while newer changes arrive; it must still show its checkpoint (was None, so
    `wait --max-lag` returned while `status` showed no checkpoint)."""
    log = ChangeLog(tmp_path / "changelog.db")
    for consumer in ("b", "c"):
        log.join(consumer)
    log.append([_tx(1), _tx(2)], 2)  # commit_time 100: long past the join grace
    log.release("b", 2)
    log.release("c", 2)
    log.append([_tx(3)], 3)
    assert log.count() == 1
    assert _report(log, Progress(), 2, 100.0)["checkpoint"] == "pos 2"


def test_a_destination_with_changes_to_apply_that_applied_none_yet_shows_no_lag_yet(tmp_path):
    """A destination that joined a shared log and has changes to apply but applied none yet showed
    a lag of 0, so `wait --max-lag` returned before it applied anything (and before it had a
    checkpoint to show)."""
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1, 100.0)], 1)
    progress = Progress()
    progress.set_phase("incremental")
    progress.committed(Checkpoint(applied_seq=0), caught_up=False)
    status = ApplierStatus(log, progress, lambda position: f"pos {position}", True)
    status.refresh(0)
    assert progress.snapshot()["lag_seconds"] is None
    progress.committed(Checkpoint(applied_seq=1, applied_commit_time=100.0), caught_up=True)
    status.refresh(1)
    assert progress.snapshot()["lag_seconds"] == 0.0


def test_a_destination_that_joined_an_empty_log_shows_no_lag_until_it_has_a_checkpoint(tmp_path):
    """It joined at seq 0; another agent then appended a change, which this one has not seen yet
    (it still counts itself caught up). It showed a lag of 0 without a checkpoint, and
    `wait --max-lag` returned then (CI, test_one_to_many_status)."""
    log = ChangeLog(tmp_path / "changelog.db")
    progress = Progress()
    progress.set_phase("incremental")
    progress.committed(Checkpoint(applied_seq=0), caught_up=True)
    log.append([_tx(1, 100.0)], 1)
    status = ApplierStatus(log, progress, lambda position: f"pos {position}", True)
    status.refresh(0)
    assert progress.snapshot()["checkpoint"] is None and progress.snapshot()["lag_seconds"] is None
    progress.committed(Checkpoint(applied_seq=1, applied_commit_time=100.0), caught_up=True)
    status.refresh(1)
    assert progress.snapshot()["checkpoint"] == "pos 1" and progress.snapshot()["lag_seconds"] == 0.0


def test_the_first_position_is_reported_at_once_later_ones_at_most_every_refresh_interval(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1), _tx(2)], 2)
    progress = Progress()
    status = ApplierStatus(log, progress, lambda position: f"pos {position}", True)
    status.refresh(0)  # nothing applied, the change trimmed or not: nothing to show yet
    assert progress.snapshot()["checkpoint"] is None
    status.refresh(1)  # at once, though within the refresh interval
    assert progress.snapshot()["checkpoint"] == "pos 1"
    status.refresh(2)  # within the interval: unchanged until it passes
    assert progress.snapshot()["checkpoint"] == "pos 1"
