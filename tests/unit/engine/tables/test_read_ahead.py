"""The applier's next batch read on a thread of its own (dtsctl.engine.tables.read_ahead)."""

from __future__ import annotations

import threading

from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.events import ChangeEvent, Transaction
from dtsctl.engine.tables.read_ahead import BatchReadAhead


def _tx(number: int) -> Transaction:
    event = ChangeEvent("main", "t", "insert", None, {"id": number}, 1.0, number)
    return Transaction((event,), number, 1.0)


def _read(log: ChangeLog, after_seq: int) -> list[tuple[int, Transaction]]:
    return log.read(after_seq, 2)


def test_the_batch_after_what_was_applied_is_read_on_another_thread_with_its_own_connection(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1), _tx(2), _tx(3)], 3)
    threads = []
    ahead = BatchReadAhead(log.path, lambda other, after: (threads.append(threading.current_thread()),
                                                           _read(other, after))[1])
    try:
        assert ahead.take(0) is None  # nothing started
        ahead.start(1)
        ahead.start(2)  # one read at a time: this one is not started
        assert [seq for seq, _ in ahead.take(1)] == [2, 3]
        assert threads and threads[0] is not threading.current_thread()
        ahead.start(1)
        assert ahead.take(3) is None  # read after another seq than the one applied: dropped
        ahead.start(3)
        assert ahead.take(3) == []  # the end of the log
    finally:
        ahead.close()


def test_a_failed_read_is_left_to_the_applier_s_thread(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")

    def failing(other: ChangeLog, after: int) -> list[tuple[int, Transaction]]:
        raise OSError("disk I/O error")

    ahead = BatchReadAhead(log.path, failing)
    ahead.start(0)
    assert ahead.take(0) is None
    ahead.close()
