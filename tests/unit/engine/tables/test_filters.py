from __future__ import annotations

from dtsctl.engine.tables.filters import FilterEvaluator


def test_filter_matches_rows_by_sql_semantics():
    filters = FilterEvaluator()
    assert filters.matches("amount > 10 AND note LIKE 'a%'", {"amount": 11, "note": "abc"})
    assert not filters.matches("amount > 10", {"amount": None})  # NULL is not a match


def test_route_turns_updates_crossing_the_filter_into_inserts_and_deletes():
    filters = FilterEvaluator()
    low, high = {"amount": 1}, {"amount": 100}
    assert filters.route("amount > 10", "update", low, high) == "insert"
    assert filters.route("amount > 10", "update", high, low) == "delete"
    assert filters.route("amount > 10", "update", high, high) == "update"
    assert filters.route("amount > 10", "update", low, low) is None
    assert filters.route("amount > 10", "delete", low, None) is None
    assert filters.route(None, "delete", low, None) == "delete"


def test_check_reports_invalid_expressions_and_unknown_columns():
    filters = FilterEvaluator()
    assert filters.check("amount > 3", ["amount"]) is None
    assert "syntax error" in filters.check("amount >>> 3", ["amount"])
    assert "no such column" in filters.check("missing = 1", ["amount"])
