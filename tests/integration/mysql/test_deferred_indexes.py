"""A copied table's plain secondary keys are built after its rows; a crash at any step of that
(after deciding, after building, before the checkpoint says so) resumes to the source's table."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables import fullcopy
from dtsctl.engine.throttle import Throttle
from tests.integration.mysql.conftest import Crash, create_orders, endpoint, table_definition, table_rows, start_orders_copy


def run_schema_and_copy(pair: Any, crash_in: str | None) -> None:
    """The schema and full phases of one agent run, from the checkpoint on the destination,
    dying in `crash_in` (a sink method) after it did its work."""
    source, sink = MysqlSource(endpoint(pair.source), "t"), MysqlSink(endpoint(pair.destination), "t")
    if crash_in is not None:
        real = getattr(sink, crash_in)

        def crash_after(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            raise Crash(crash_in)

        setattr(sink, crash_in, crash_after)
    try:
        cp, plan, schema = start_orders_copy(pair, source, sink)
        assert fullcopy.copy_table(source, [sink], plan, schema, cp, Throttle(0, 0), Progress(), threading.Event(),
                                   incremental=False)
    finally:
        source.close()
        sink.close()


@pytest.mark.parametrize("crash_in", ["save_checkpoint", "create_table", "build_indexes"])
def test_a_crash_around_the_deferred_index_build_resumes_to_the_same_table(pair, crash_in: str) -> None:
    create_orders(pair.source, pair.source_db, 12_000)  # three chunks; KEY by_amount is deferred
    with pytest.raises(Crash):
        run_schema_and_copy(pair, crash_in)
    run_schema_and_copy(pair, None)
    assert table_definition(pair.destination, pair.dest_db, "orders") == table_definition(pair.source, pair.source_db,
                                                                                          "orders")
    assert table_rows(pair.destination, pair.dest_db, "orders") == table_rows(pair.source, pair.source_db, "orders")
    stored = MysqlSink(endpoint(pair.destination), "t")
    try:
        progress = (stored.load_checkpoint() or {})["tables"][f"{pair.source_db}.orders"]
    finally:
        stored.close()
    assert progress["copy_done"] and progress["rows_copied"] == 12_000 and progress["deferred_indexes"] == []
