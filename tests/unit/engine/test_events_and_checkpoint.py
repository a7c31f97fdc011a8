from __future__ import annotations

from dtsctl.engine.checkpoint import Checkpoint, TableProgress
from dtsctl.engine.events import ChangeEvent, ConflictCounts, Transaction, decode_value, encode_value
from dtsctl.engine.errors import ConflictError


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
