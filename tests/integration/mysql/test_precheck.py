"""Precheck failures, each one line that says what to change; an agent refuses to start on them."""

from __future__ import annotations

from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.runtime import lifecycle
from dtsctl.runtime.layout import EXIT_FATAL
from tests.integration.mysql.conftest import Task, attributes, endpoint, selection


def _failures(attrs):
    return [check.message for check in lifecycle.precheck(attrs, "precheck-test") if not check.ok]


def test_binlog_off_is_named_with_the_setting_to_change(mariadb_factory, mariadb_destination, tmp_path):
    source = mariadb_factory(log_bin=False)
    source.execute("CREATE DATABASE shop")
    source.execute("CREATE TABLE shop.orders (id INT PRIMARY KEY)")
    attrs = attributes(endpoint(source), endpoint(mariadb_destination), [selection("shop", all=True, rename="x_shop")])
    where = f"source 127.0.0.1:{source.port}"
    assert _failures(attrs) == [
        f"{where} log_bin is OFF: add log_bin=ON to the [mariadbd] section of my.cnf and restart the server",
        f"{where} binlog_format is MIXED: run SET GLOBAL binlog_format = 'ROW' and add binlog_format=ROW to the "
        "[mariadbd] section of my.cnf",
        f"{where} binlog_row_metadata is NO_LOG: run SET GLOBAL binlog_row_metadata = 'FULL' and add "
        "binlog_row_metadata=FULL to the [mariadbd] section of my.cnf",
    ]
    task = Task(tmp_path, attrs)
    task.apply()
    assert task.process.wait(timeout=30) == EXIT_FATAL
    assert task.status()["last_error"].startswith("precheck failed: source 127.0.0.1")
    # a migration without incremental needs no binlog
    assert _failures(attributes(endpoint(source), endpoint(mariadb_destination),
                                [selection("shop", all=True, rename="x_shop")], phases=["schema", "full"])) == []


def test_missing_key_names_the_table(pair):
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.nokey (a INT, b INT)")
    task = pair.task()
    assert _failures(task.attributes) == [
        f"table {pair.source_db}.nokey has no primary key or unique NOT NULL key; add one (changes are applied by key)"
    ]


def test_wrong_password_and_missing_privileges(pair):
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.orders (id INT PRIMARY KEY)")
    pair.source.create_user("dts_weak", "right", [f"SELECT ON `{pair.source_db}`.*"])
    try:
        wrong = attributes(endpoint(pair.source, "dts_weak", "wrong"), endpoint(pair.destination),
                           [selection(pair.source_db, all=True)])
        assert _failures(wrong) == [
            f"source 127.0.0.1:{pair.source.port} rejected user 'dts_weak' (wrong password, or the user does not "
            "exist for this host); fix the endpoint's `user`/`password`"
        ]
        weak = attributes(endpoint(pair.source, "dts_weak", "right"), endpoint(pair.destination),
                          [selection(pair.source_db, all=True, rename=pair.dest_db)])
        assert _failures(weak) == [
            f"source 127.0.0.1:{pair.source.port} user 'dts_weak'@'%' lacks REPLICATION SLAVE, REPLICATION CLIENT: "
            "run GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'dts_weak'@'%'"
        ]
    finally:
        pair.source.drop_user("dts_weak")


def test_destination_rows_conflict_unless_policy_allows(pair):
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.orders (id INT PRIMARY KEY)")
    pair.destination.execute(f"CREATE DATABASE `{pair.dest_db}`")
    pair.destination.execute(f"CREATE TABLE `{pair.dest_db}`.orders (id INT PRIMARY KEY)")
    pair.destination.execute(f"INSERT INTO `{pair.dest_db}`.orders VALUES (1)")
    assert _failures(pair.task().attributes) == [
        f"destination table {pair.dest_db}.orders already holds 1 rows; empty it, rename the table with "
        "`table_rename`, or set conflict_policy to ignore or overwrite"
    ]
    assert _failures(pair.task(conflict_policy="overwrite").attributes) == []


def test_a_restart_or_a_task_without_a_copy_does_not_count_the_destination_s_rows(pair):
    """Counting reads the whole table: on a large destination it would hold up every restart and
    every resume of a paused task. Only a copy's first start needs to know whether rows are there."""
    pair.source.execute(f"CREATE TABLE `{pair.source_db}`.orders (id INT PRIMARY KEY)")
    pair.destination.execute(f"CREATE DATABASE `{pair.dest_db}`")
    pair.destination.execute(f"CREATE TABLE `{pair.dest_db}`.orders (id INT PRIMARY KEY)")
    pair.destination.execute(f"INSERT INTO `{pair.dest_db}`.orders VALUES (1)")
    first_start, streaming = pair.task(), pair.task(phases=["incremental"])

    def counts_during(check) -> list[str]:
        pair.destination.execute("TRUNCATE TABLE mysql.general_log")
        pair.destination.execute("SET GLOBAL log_output = 'TABLE', general_log = ON")
        try:
            check()
        finally:
            pair.destination.execute("SET GLOBAL general_log = OFF")
        return [statement for (statement,) in pair.destination.query("SELECT CONVERT(argument USING utf8mb4) FROM "
                                                                      "mysql.general_log")
                if "count(" in statement.lower() and "orders" in statement]

    assert len(counts_during(lambda: _failures(first_start.attributes))) == 1  # the check this test watches for
    assert counts_during(lambda: _failures(streaming.attributes)) == []
    MysqlSink(endpoint(pair.destination), "precheck-test").save_checkpoint({"applied_seq": 0})
    assert counts_during(lambda: _failures(first_start.attributes)) == []  # a restart: the rows are its own
