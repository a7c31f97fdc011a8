"""GTID states: formatted and parsed back, one domain (the usual case) or several (sorted)."""

from __future__ import annotations

from dtsctl.connectors.mysql.position import format_gtid_state, parse_gtid_state


def test_a_gtid_state_of_one_domain_or_several_round_trips():
    assert format_gtid_state({0: (10, 42)}) == "0-10-42"
    assert format_gtid_state({3: (2, 7), 0: (10, 42)}) == "0-10-42,3-2-7"
    assert format_gtid_state({}) == ""
    for state in ({0: (10, 42)}, {3: (2, 7), 0: (10, 42)}):
        assert parse_gtid_state(format_gtid_state(state)) == state
