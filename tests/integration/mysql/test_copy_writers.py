"""The full copy writes chunks on two destination connections: when a later chunk commits
before an earlier one and the agent dies, the stored checkpoint claims neither, and the next
run copies the table whole; a new owner in the cluster runtime also stops a former owner's
copy writer."""

from __future__ import annotations

import threading
from typing import Any

import pymysql
import pytest

from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.engine.progress import Progress
from dtsctl.engine.tables import fullcopy
from dtsctl.engine.tables.chunk_writers import copy_writers
from dtsctl.engine.throttle import Throttle
from tests.integration.mysql.conftest import Crash, create_orders, endpoint, table_rows, start_orders_copy


def stored_progress(pair: Any) -> dict[str, Any]:
    sink = MysqlSink(endpoint(pair.destination), "t")
    try:
        return (sink.load_checkpoint() or {})["tables"][f"{pair.source_db}.orders"]
    finally:
        sink.close()


def copy(pair: Any, hold_first_chunk: bool) -> None:
    """The schema and full phases of one agent run. With `hold_first_chunk`, the first chunk's
    writer waits until another chunk has committed, then the agent dies before the first commits."""
    source, sink = MysqlSource(endpoint(pair.source), "t"), MysqlSink(endpoint(pair.destination), "t")
    later_committed = threading.Event()
    try:
        cp, plan, schema = start_orders_copy(pair, source, sink)
        with copy_writers(sink, None) as sinks:
            assert len(sinks) == MysqlSink.copy_writers == 2
            if hold_first_chunk:
                first, other = sinks
                write_other = other.write_encoded_rows

                def first_dies(*args: Any, **kwargs: Any) -> None:
                    assert later_committed.wait(timeout=30), "the other writer never committed"
                    raise Crash("before the first chunk committed")

                def other_commits(*args: Any, **kwargs: Any) -> None:
                    write_other(*args, **kwargs)
                    later_committed.set()

                first.write_encoded_rows = first_dies  # type: ignore[method-assign]
                other.write_encoded_rows = other_commits  # type: ignore[method-assign]
            fullcopy.copy_table(source, sinks, plan, schema, cp, Throttle(0, 0), Progress(), threading.Event(),
                                incremental=False)
    finally:
        source.close()
        sink.close()


def test_a_chunk_committed_before_an_earlier_one_is_not_claimed_and_the_resume_copies_all(pair) -> None:
    create_orders(pair.source, pair.source_db, 12_000)  # three chunks
    with pytest.raises(Crash):
        copy(pair, hold_first_chunk=True)
    assert pair.destination.scalar(f"SELECT COUNT(*) FROM `{pair.dest_db}`.orders") >= fullcopy.CHUNK_ROWS
    progress = stored_progress(pair)  # the second chunk is in, but the first is not: nothing is claimed
    assert progress["last_key"] is None and progress["rows_copied"] == 0
    copy(pair, hold_first_chunk=False)
    assert table_rows(pair.destination, pair.dest_db, "orders") == table_rows(pair.source, pair.source_db, "orders")
    progress = stored_progress(pair)
    assert progress["copy_done"] and progress["rows_copied"] == 12_000


def test_a_new_owner_stops_a_former_owners_copy_writer(pair) -> None:
    former_owner = MysqlSink(endpoint(pair.destination), "t")
    former_owner.save_checkpoint({"applied_seq": 1, "fencing_token": 1})
    former_owner.close()
    former = MysqlSink(endpoint(pair.destination), "t").another(1)
    successor = MysqlSink(endpoint(pair.destination), "t")
    try:
        former.fence(1)  # a frozen host's copy writer, holding its lock
        successor.fence(2)
        with pytest.raises(pymysql.err.OperationalError):
            former.conn.cursor().execute("SELECT 1")
        assert pair.destination.scalar("SELECT fencing_token FROM dtsctl_meta.checkpoints WHERE task_id = 't'") == 2
    finally:
        successor.delete_checkpoint()
        successor.close()
        former.close()
