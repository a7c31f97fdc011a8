"""`status` shows the reader's and the applier's rates over the last 10 s (issue 13)."""

from __future__ import annotations

from dtsctl.engine.checkpoint import Checkpoint
from dtsctl.engine.progress import Progress, Rate


def test_a_rate_counts_only_the_last_ten_seconds():
    rate = Rate()
    for second in range(21):  # 1,000 events/s for 10 s, then 100/s
        total = 1000 * min(second, 10) + 100 * max(0, second - 10)
        shown = rate.per_second(total, float(second))
    assert shown == 100.0
    assert Rate().per_second(5, 0.0) == 0.0  # one sample: no rate yet


def test_status_shows_reader_and_applier_each_with_position_and_rate():
    progress = Progress()
    progress.reader_started(4242)
    progress.reader_advanced("gtid 0-1-9", 10.0, events=50, reader_position="gtid 0-1-9")
    progress.applier_advanced("gtid 0-1-7")
    progress.committed(Checkpoint(events_applied=30))
    status = progress.snapshot()
    assert status["reader"] == {"pid": 4242, "position": "gtid 0-1-9", "events_per_second": 0.0}
    assert status["applier"] == {"position": "gtid 0-1-7", "events_per_second": 0.0}
