from __future__ import annotations

import pytest

from dtsctl.engine.tables.selection import resolve_tables
from dtsctl.errors import DtsError


def test_all_lists_source_tables_and_applies_renames_filters_and_dml():
    objects = ({"database": "main", "all": True, "table_rename": {"a": "b2"}, "filter": {"a": "x > 1"},
                "dml": ["insert"]},)
    plans = resolve_tables(objects, lambda db: ["a", "c"])
    assert [(p.name, p.dest_name, p.filter, set(p.dml)) for p in plans] == [
        ("main.a", "main.b2", "x > 1", {"insert"}), ("main.c", "main.c", None, {"insert"})]


def test_two_tables_onto_one_destination_is_refused():
    objects = ({"database": "main", "tables": ["a", "b"], "table_rename": {"a": "b"}},)
    with pytest.raises(DtsError, match="both map to main.b"):
        resolve_tables(objects, lambda db: [])
