"""The MySQL reader alone: rows/s from a binlog backlog into the change log, in this process.

`bench/mysql_bench.py` times a whole catch-up (resume, reader process, applier process,
destination) against a native replica; this measures only the reader's two halves on the same
`bench.orders` backlog, with no applier and no destination competing for the two cores:

- `stream`: the binlog thread alone (`MysqlSource.read_changes`: packets, row decoding,
  transactions) drained by this thread without appending;
- `append`: the reader as the agent runs it, each batch also appended to a change log.

The garbage collector is set as the agent sets it.

    .venv/bin/python bench/mysql_reader_bench.py [--changes 200000] [--rows-per-transaction 1] [--quick]

`--quick` reads 50,000 changes. To measure other code (an export of an earlier commit), run it
from that directory with `PYTHONPATH=.`: the repository is appended to the path, so the earlier
`dtsctl` comes first.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

from mysql_bench import prepare_stream_source, server, write_backlog  # noqa: E402

from dtsctl.connectors.mysql.source import MysqlSource  # noqa: E402
from dtsctl.engine.changelog import ChangeLog  # noqa: E402
from dtsctl.engine.tables.reader import MAX_EVENTS_PER_READ, POLL_SECONDS  # noqa: E402
from dtsctl.runtime.agent_process import tune_garbage_collection  # noqa: E402


def read_backlog(source: MysqlSource, start: object, changes: int, changelog: ChangeLog | None) -> float:
    """Seconds to read `changes` rows from `start` (and append them when there is a change log)."""
    began = time.monotonic()
    position, read = start, 0
    while read < changes:
        transactions = source.read_changes(position, MAX_EVENTS_PER_READ, POLL_SECONDS)
        if transactions:
            position = transactions[-1].position
            read += sum(tx.change_count() for tx in transactions)
            if changelog is not None:
                changelog.append([tx for tx in transactions if tx.change_count()], position)
    return time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--rows-per-transaction", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="50,000 changes")
    args = parser.parse_args()
    changes = 50_000 if args.quick else args.changes
    tune_garbage_collection()  # as the agent does
    src = server(10)
    try:
        prepare_stream_source(src)
        endpoint = {"host": "127.0.0.1", "port": src.port, "user": "root", "password": ""}
        for mode in ("stream", "append"):
            source = MysqlSource(endpoint, f"task.reader-bench-{mode}")
            source.restrict(lambda database, table: database == "bench", frozenset({"bench"}))
            start = source.current_position()
            write_backlog(src, 1 if mode == "stream" else changes + 1, changes, args.rows_per_transaction)
            with tempfile.TemporaryDirectory() as folder:
                changelog = ChangeLog(Path(folder) / "changelog.sqlite") if mode == "append" else None
                cpu = time.process_time()
                seconds = read_backlog(source, start, changes, changelog)
                cpu = time.process_time() - cpu
                if changelog is not None:
                    changelog.close()
            source.close()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{mode:7} {changes:,} rows in transactions of {args.rows_per_transaction}: "
                  f"{changes / seconds:10,.0f} rows/s, CPU {cpu:.1f} s, process peak RSS {peak:.0f} MB")
    finally:
        src.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
