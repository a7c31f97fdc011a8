"""What the cluster runtime's subscription tests share: the declaration, a source write load, and
the check that a consumer read every source row exactly once, in order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.servers.mariadb import MariaDBServer
from tests.servers.nats import USER

TTL = 10


def declaration(etcd: list[str], nats: list[str], prefix: str, source: str, database: str, groups: str) -> str:
    """A subscription `task.feed` on table `items` of `database` on the etcd runtime with its records in
    NATS (`source`: the endpoint's flow mapping; `groups`: the `consumer_groups` value)."""
    return f"""
        workspace:
          runtime:
            backend: etcd
            endpoints: {json.dumps(etcd)}
            prefix: {prefix}
            lease_seconds: {TTL}
            subscriptions: {{nats: {json.dumps(nats)}, replicas: 3, username: {USER}}}
        endpoints:
          src: {source}
        tasks:
          feed:
            type: subscription
            source: src
            objects: [{{database: {database}, tables: [items]}}]
            consumer_groups: {groups}
            retry: {{connection_minutes: 5, other_minutes: 5}}
        """


class Inserts(threading.Thread):
    """One-row transactions on the source's `items`, ids 1, 2, 3 ... until stopped."""

    def __init__(self, server: MariaDBServer, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.stop, self.count = server, database, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.server.execute(f"INSERT INTO `{self.database}`.items (id, v) VALUES ({self.count + 1}, 'v')")
            self.count += 1
            time.sleep(0.02)


def assert_each_row_once(records: list[dict[str, Any]], rows: list[int]) -> None:
    """Seqs dense from 1 (each record once, in order), and one transaction per source row, in order."""
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert [r["after"]["id"] for r in records if r["op"] == "insert"] == rows
    assert [r["op"] for r in records if r["op"] != "heartbeat"] == ["begin", "insert", "commit"] * len(rows)
