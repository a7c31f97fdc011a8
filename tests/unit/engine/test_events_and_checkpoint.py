from __future__ import annotations

import pytest

from dtsctl.engine.checkpoint import Checkpoint, TableProgress, load_after_precheck
from dtsctl.engine.events import ChangeEvent, ConflictCounts, Transaction, decode_value, encode_value
from dtsctl.engine.errors import ConflictError, FatalError


def test_event_survives_json_round_trip_with_bytes_and_exact_floats():
    event = ChangeEvent("main", "t", "update", {"id": 1, "b": b"\xff\x00"}, {"id": 2, "f": 0.1 + 0.2}, 12.5, 7)
    tx = Transaction((event,), 7, 12.5)
    assert Transaction.from_payload(tx.payload(), 7, 12.5) == tx


def test_capture_encodings_decode_to_python_values():
    assert decode_value({"$x": "00FF"}) == b"\x00\xff"
    assert decode_value({"$f": "0.30000000000000004"}) == 0.1 + 0.2
    assert decode_value(encode_value(b"abc")) == b"abc"


def test_checkpoint_round_trip_keeps_counters_and_table_progress():
    cp = Checkpoint(applied_seq=9, rows_copied=100, events_applied=5, conflicts=ConflictCounts(1, 2, 3),
                    tables={"main.t": TableProgress(destination="main.u", last_key=[b"k", 3], copy_end=[4])})
    assert Checkpoint.from_json(cp.to_json()) == cp


def test_conflict_error_names_table_key_and_policy():
    assert str(ConflictError("update", "main.orders", {"a": 1, "b": "x"})) == (
        "conflict: update of main.orders key (a=1, b='x') does not exist; conflict_policy is fail"
    )


class _Store:
    def __init__(self, saved: dict | None) -> None:
        self.saved = saved

    def load_checkpoint(self) -> dict | None:
        return self.saved

    def save_checkpoint(self, checkpoint: dict) -> None:
        self.saved = checkpoint


def test_a_missing_checkpoint_after_streaming_fails_before_the_precheck_saves_a_new_one():
    store = _Store(None)
    with pytest.raises(FatalError, match="no longer holds this task's checkpoint"):
        load_after_precheck(store, lambda: [], streamed_before=lambda: True)
    assert store.saved is None, "a saved fresh checkpoint would hide the loss at the next start"


def test_a_missing_checkpoint_of_a_task_that_never_streamed_is_a_fresh_start():
    store = _Store(None)
    cp = load_after_precheck(store, lambda: [], streamed_before=lambda: False)
    assert cp.precheck_done and store.saved["precheck_done"]
    assert load_after_precheck(store, lambda: [], streamed_before=lambda: True).precheck_done
