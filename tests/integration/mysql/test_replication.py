"""Full copy and binlog replication between private MariaDB servers through the agent process."""

from __future__ import annotations

import time

from tests.integration.mysql.conftest import Writer, create_orders, table_rows, wait_equal


def test_full_copy_and_incremental_under_concurrent_writes_end_equal(pair):
    create_orders(pair.source, pair.source_db, 20_000)
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.items (sku VARCHAR(20) NOT NULL, shop INT NOT NULL, "
                        "qty INT, PRIMARY KEY (shop, sku)) AUTO_INCREMENT=1")
    pair.source.execute(f"INSERT INTO `{pair.source_db}`.items VALUES ('a', 1, 1), ('b', 1, 2), ('a', 2, 3)")
    task = pair.task()
    writer = Writer(pair.source, pair.source_db, 1_000_000)
    writer.start()
    try:
        task.apply()
        task.wait_incremental()
        pair.source.execute(f"UPDATE `{pair.source_db}`.items SET sku = 'z', qty = 9 WHERE shop = 1 AND sku = 'a'")
        pair.source.execute(f"DELETE FROM `{pair.source_db}`.items WHERE shop = 2")
        time.sleep(1)
    finally:
        writer.stop()
    assert writer.transactions > 50
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "orders")
    wait_equal(pair.source, pair.source_db, pair.destination, pair.dest_db, "items", order="shop, sku")
    status = task.wait_status(lambda s: s["lag_seconds"] == 0 and s["events_applied"] > 0)
    assert status["state"] == "running" and status["conflicts"] == {"insert": 0, "update": 0, "delete": 0}
    assert status["tables"][f"{pair.source_db}.orders"]["done"]
    assert "gtid" in status["checkpoint"]
    source_ddl = pair.source.query(f"SHOW CREATE TABLE `{pair.source_db}`.orders")[0][1]
    dest_ddl = pair.destination.query(f"SHOW CREATE TABLE `{pair.dest_db}`.orders")[0][1]
    assert dest_ddl == source_ddl  # indexes, defaults, charsets and collations survive
