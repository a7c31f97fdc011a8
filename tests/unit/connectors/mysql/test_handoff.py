"""The binlog thread's hand-over to the reader (dtsctl.connectors.mysql.handoff)."""

from __future__ import annotations

import queue
import threading

import pytest

from dtsctl.connectors.mysql.handoff import Handoff


def test_items_come_out_in_order_and_an_empty_get_times_out():
    handoff: Handoff[int] = Handoff(10)
    for number in range(5):
        assert handoff.put(number, timeout=0)
    assert [handoff.get(timeout=0) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(queue.Empty):
        handoff.get(timeout=0.01)


def test_a_full_handoff_refuses_a_put_until_the_consumer_takes_one():
    handoff: Handoff[str] = Handoff(2)
    assert handoff.put("a", timeout=0) and handoff.put("b", timeout=0)
    assert not handoff.put("c", timeout=0.01) and len(handoff) == 2
    assert handoff.get(timeout=0) == "a"
    assert handoff.put("c", timeout=0) and [handoff.get(0), handoff.get(0)] == ["b", "c"]


def test_threads_hand_over_every_item_in_order_without_a_missed_wakeup():
    """A missed signal would leave a side waiting out its 10 s timeout: the put returns False
    or the get raises queue.Empty with the item there, and the transfer comes out short."""
    handoff: Handoff[int] = Handoff(3)
    count, refused = 50_000, []

    def produce() -> None:
        for number in range(count):
            if not handoff.put(number, timeout=10):
                refused.append(number)
                return

    producer = threading.Thread(target=produce)
    producer.start()
    received = [handoff.get(timeout=10) for _ in range(count)]
    producer.join()
    assert not refused and received == list(range(count))


def test_the_capacity_is_a_weight_and_one_item_may_go_over_it():
    """The binlog stream weighs a transaction by its changes: the hand-over holds about as many
    changes whatever the transactions' sizes, and a transaction larger than it still goes in."""
    handoff: Handoff[list[int]] = Handoff(10, len)
    assert handoff.put([1] * 6, timeout=0) and handoff.put([2] * 6, timeout=0)  # 6 < 10: it goes in
    assert not handoff.put([3], timeout=0.01) and len(handoff) == 2  # 12 >= 10: full
    assert handoff.get(timeout=0) == [1] * 6
    assert handoff.put([3] * 4, timeout=0) and not handoff.put([4], timeout=0.01)  # 6 + 4 >= 10: full again
    assert handoff.get(timeout=0) == [2] * 6 and handoff.put([5] * 30, timeout=0)  # 4 < 10: a large one goes in
