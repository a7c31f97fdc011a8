"""Subscription record stores: the cluster runtime's NATS JetStream store against the local SQLite one.

    flock /tmp/dtsctl-bench.lock .venv/bin/python bench/subscription_store_bench.py [--quick]

Both stores get the same one-row transactions (begin, insert, commit: three records each) through
`insert` in recorder-sized batches, then every record is read back in order in the SDK's batches
(`read`). JetStream runs as 3 servers on loopback (tests/servers/nats.py), replicas 3. The local
store is the baseline of the same run: compare the ratio (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers starts the NATS cluster

from dtsctl.engine.subscription.envelope import transaction_records  # noqa: E402
from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, NatsSettings  # noqa: E402
from dtsctl.engine.subscription.store import STORE_FILE, SubscriptionStore  # noqa: E402
from dtsctl.engine.subscription.stores import RecordStore  # noqa: E402
from dtsctl.engine.events import ChangeEvent, Transaction  # noqa: E402
from tests.servers.nats import PASSWORD, USER, NatsCluster  # noqa: E402

BATCH = 600  # records per insert: what the recorder commits for 200 one-row transactions
READ = 200  # the SDK's read batch


def records(count: int) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for n in range(count // 3):
        event = ChangeEvent("shop", "orders", "insert", None, {"id": n, "note": "x" * 100, "amount": n * 7},
                            1_700_000_000.0, n)
        made.extend(transaction_records(Transaction((event,), n, 1_700_000_000.0), len(made) + 1))
    return made


def measure(store: RecordStore, batch: list[dict[str, Any]]) -> tuple[float, float]:
    """(records written per second, records read per second)."""
    started = time.perf_counter()
    for start in range(0, len(batch), BATCH):
        with store.transaction():
            store.insert(batch[start:start + BATCH], time.time())
    written = len(batch) / (time.perf_counter() - started)
    started, after, read = time.perf_counter(), 0, 0
    while chunk := store.read(after, READ):
        after, read = chunk[-1][0], read + len(chunk)
    assert read == len(batch), f"read {read} of {len(batch)} records"
    return written, read / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="30,000 records (under a minute)")
    count = 30_000 if parser.parse_args().quick else 300_000
    batch = records(count)
    os.environ[PASSWORD_ENV] = PASSWORD
    cluster = NatsCluster(3).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = SubscriptionStore(Path(folder) / STORE_FILE)
            local_rates = measure(local, batch)
            local.close()
        from dtsctl.engine.subscription.jetstream import JetStreamStore

        replicated = JetStreamStore(NatsSettings(tuple(cluster.urls), 3, f"bench_{uuid.uuid4().hex[:8]}", USER))
        nats_rates = measure(replicated, batch)
        replicated.drop()
        replicated.close()
    finally:
        cluster.close()
    print(f"{len(batch)} records, load average {os.getloadavg()[0]:.2f}")
    for what, index in (("write", 0), ("read", 1)):
        print(f"{what}: JetStream R3 {nats_rates[index]:,.0f} records/s, local SQLite {local_rates[index]:,.0f} "
              f"records/s, ratio {nats_rates[index] / local_rates[index]:.1%}")


if __name__ == "__main__":
    main()
