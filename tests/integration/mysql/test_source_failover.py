"""Source endpoint failover: a task reading a MariaDB primary that lists its replica follows the
replica when it is promoted, continuing the binlog by GTID with no change lost or applied twice.

The primary's writes stop while the replica catches up, then the primary is killed (kill -9) and
the replica promoted; the load goes on against the promoted replica. (Writes a primary committed
but never shipped are lost with it whatever the reader does: semi-synchronous replication is what
prevents that, not the reader.)"""

from __future__ import annotations

from tests.integration.agent_process import wait_for
from tests.integration.mysql.conftest import Task, Writer, attributes, create_orders, endpoint, selection, wait_equal
from tests.servers.mariadb import MariaDBServer

NO_CONFLICTS = {"insert": 0, "update": 0, "delete": 0}


def follow(replica: MariaDBServer, primary: MariaDBServer) -> None:
    replica.execute("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
                    "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos", primary.port)
    replica.execute("START SLAVE")


def caught_up(replica: MariaDBServer, primary: MariaDBServer) -> None:
    position = primary.scalar("SELECT @@global.gtid_binlog_pos")
    assert replica.scalar("SELECT MASTER_GTID_WAIT(%s, 30)", position) == 0, "the replica did not catch up"


def promote(replica: MariaDBServer) -> None:
    replica.execute("STOP SLAVE")
    replica.execute("RESET SLAVE ALL")
    replica.execute("SET GLOBAL read_only = 0")


def test_the_reader_follows_a_promoted_replica_by_gtid(mariadb_factory, mariadb_destination, fresh_database, tmp_path):
    primary = mariadb_factory(extra_args=["--log-slave-updates"])
    replica = mariadb_factory(extra_args=["--log-slave-updates", "--read-only"])
    follow(replica, primary)
    database = fresh_database(primary)
    create_orders(primary, database, 500)
    caught_up(replica, primary)
    source = {**endpoint(primary), "replicas": [f"127.0.0.1:{replica.port}"]}
    task = Task(tmp_path, attributes(source, endpoint(mariadb_destination),
                                     [selection(database, all=True, rename=f"{database}_copy")]))
    try:
        task.apply()
        task.wait_incremental()
        writer = Writer(primary, database, 1_000_000)
        writer.start()
        wait_for(lambda: writer.transactions > 200, what="writes on the primary")
        writer.stop()
        caught_up(replica, primary)
        primary.kill()
        promote(replica)
        writer = Writer(replica, database, 2_000_000)
        writer.start()
        try:
            wait_for(lambda: writer.transactions > 200, timeout=30, what="writes on the promoted replica")
            task.wait_status(lambda s: s["events_applied"] > 2_000, timeout=60, what="changes from the promoted replica")
        finally:
            writer.stop()
        wait_equal(replica, database, mariadb_destination, f"{database}_copy", "orders", timeout=60)
        assert task.wait_status(lambda s: s["lag_seconds"] == 0)["conflicts"] == NO_CONFLICTS
    finally:
        if task.process is not None and task.process.poll() is None:
            task.stop()
        mariadb_destination.drop_database(f"{database}_copy")
