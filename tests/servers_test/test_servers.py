"""The private-server fixtures work: real mariadbd / redis-server, no mocks."""

from __future__ import annotations

import os
import subprocess
import sys

import pymysql
import pytest
import redis

from tests.servers import binaries, ports
from tests.servers.mariadb import MariaDBServer

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The lead registers the plugin in tests/conftest.py; this keeps the file runnable
# on its own (pytest ignores the line when the plugin is already registered).

MACHINE_PORTS = {3306, 6379}


# -- MariaDB --------------------------------------------------------------------

def test_mariadb_source_is_ready_for_cdc(mariadb_source):
    assert mariadb_source.port not in MACHINE_PORTS
    assert mariadb_source.show_variable("log_bin") == "ON"
    assert mariadb_source.show_variable("binlog_format") == "ROW"
    assert mariadb_source.show_variable("binlog_row_image") == "FULL"
    assert mariadb_source.show_variable("binlog_row_metadata") == "FULL"
    assert mariadb_source.show_variable("bind_address") == "127.0.0.1"
    assert mariadb_source.variable("server_id") == 1
    assert mariadb_source.show_variable("character_set_server") == "utf8mb4"
    assert mariadb_source.show_variable("tmpdir") == str(mariadb_source.dir / "tmp")
    file, pos = mariadb_source.binlog_position()
    assert file.startswith("bin.") and pos > 0


def test_source_and_destination_are_distinct(mariadb_pair, mariadb_source, mariadb_destination):
    assert mariadb_pair == (mariadb_source, mariadb_destination)
    assert mariadb_source.port != mariadb_destination.port
    assert mariadb_destination.variable("server_id") == 2
    assert mariadb_destination.show_variable("log_bin") == "ON"


def test_root_over_tcp_with_empty_password(mariadb_source):
    conn = pymysql.connect(host="127.0.0.1", port=mariadb_source.port, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER(), @@port")
            user, port = cur.fetchone()
    finally:
        conn.close()
    assert user.startswith("root@")
    assert port == mariadb_source.port
    with mariadb_source.root_connect() as c2, c2.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_replication_user_can_connect(mariadb_source):
    settings = mariadb_source.create_user(
        "t_repl", "s3cret", "REPLICATION SLAVE, REPLICATION CLIENT ON *.*"
    )
    try:
        conn = pymysql.connect(**settings)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GRANTS")
                grants = " ".join(r[0] for r in cur.fetchall())
                cur.execute("SHOW MASTER STATUS")
                assert cur.fetchone() is not None
        finally:
            conn.close()
        assert "REPLICATION SLAVE" in grants
        with pytest.raises(pymysql.err.OperationalError):
            mariadb_source.connect("t_repl", "wrong")
    finally:
        mariadb_source.drop_user("t_repl")


def test_fresh_database_is_unique_and_usable(mariadb_source, mariadb_destination, fresh_database):
    a = fresh_database(mariadb_source)
    b = fresh_database(mariadb_source)
    c = fresh_database(mariadb_destination, prefix="dst")
    assert len({a, b, c}) == 3 and all(len(n) <= 64 for n in (a, b, c))
    assert c.startswith("dst_")
    mariadb_source.execute(f"CREATE TABLE `{a}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
    assert mariadb_source.execute(f"INSERT INTO `{a}`.t VALUES (%s, %s), (%s, %s)", 1, "é", 2, "b") == 2
    assert mariadb_source.query(f"SELECT id, v FROM `{a}`.t ORDER BY id") == [(1, "é"), (2, "b")]
    names = {r[0] for r in mariadb_source.query("SHOW DATABASES")}
    assert {a, b} <= names


def test_client_binaries_reach_the_server(mariadb_source, fresh_database):
    db = fresh_database(mariadb_source)
    mariadb_source.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    out = subprocess.run([*mariadb_source.client_args(), "-N", "-e", "SELECT @@server_id"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"
    dump = subprocess.run([*mariadb_source.dump_args(), db], capture_output=True, text=True,
                          check=True).stdout
    assert "CREATE TABLE `t`" in dump


def test_restart_keeps_data_and_port(mariadb_factory):
    server = mariadb_factory()
    port = server.port
    server.execute("CREATE DATABASE d")
    server.execute("CREATE TABLE d.t (id INT PRIMARY KEY)")
    server.execute("INSERT INTO d.t VALUES (1), (2)")
    server.restart()
    assert server.port == port
    assert server.query("SELECT id FROM d.t ORDER BY id") == [(1,), (2,)]


def test_kill_then_start_recovers_committed_data(mariadb_factory):
    server = mariadb_factory()
    server.execute("CREATE DATABASE d")
    server.execute("CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB")
    server.execute("INSERT INTO d.t VALUES (1), (2), (3)")
    gtid = server.gtid_binlog_pos()
    pid = server.pid
    server.kill()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    server.start()
    assert server.scalar("SELECT COUNT(*) FROM d.t") == 3
    assert server.gtid_binlog_pos() == gtid  # binlog survived the crash too


def test_factory_server_without_binlog(mariadb_factory):
    server = mariadb_factory(log_bin=False)
    assert server.show_variable("log_bin") == "OFF"
    with pytest.raises(RuntimeError, match="disabled"):
        server.binlog_position()


def test_factory_server_with_statement_binlog_and_own_server_id(mariadb_factory):
    server = mariadb_factory(server_id=42, extra_args=["--binlog-format=STATEMENT"])
    assert server.show_variable("log_bin") == "ON"
    assert server.show_variable("binlog_format") == "STATEMENT"
    assert server.variable("server_id") == 42


def test_server_without_template_datadir(tmp_path):
    with MariaDBServer(server_id=77, use_template=False) as server:
        assert server.scalar("SELECT 1") == 1
        assert server.startup_seconds is not None


def test_binlog_events_readable_by_python_mysql_replication(mariadb_source, fresh_database):
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import WriteRowsEvent

    db = fresh_database(mariadb_source)
    mariadb_source.execute(f"CREATE TABLE `{db}`.items (id INT PRIMARY KEY, name VARCHAR(40))")
    start = mariadb_source.gtid_binlog_pos()
    mariadb_source.execute(
        f"INSERT INTO `{db}`.items VALUES (%s, %s), (%s, %s)", 1, "one", 2, "two"
    )
    mariadb_source.execute(f"INSERT INTO `{db}`.items VALUES (%s, %s)", 3, "three")

    stream = BinLogStreamReader(
        connection_settings=mariadb_source.connection_settings(),
        server_id=4242,
        is_mariadb=True,
        auto_position=start,  # MariaDB resumes by GTID; log_file/log_pos are ignored
        blocking=False,
        only_events=[WriteRowsEvent],
        only_schemas=[db],
    )
    rows = []
    try:
        for event in stream:
            assert event.schema == db and event.table == "items"
            rows += [r["values"] for r in event.rows]
    finally:
        stream.close()
    assert rows == [
        {"id": 1, "name": "one"},
        {"id": 2, "name": "two"},
        {"id": 3, "name": "three"},
    ]


# -- Redis ----------------------------------------------------------------------

def test_redis_source_and_destination_ping(redis_source, redis_destination):
    assert {redis_source.port, redis_destination.port}.isdisjoint(MACHINE_PORTS)
    assert redis_source.port != redis_destination.port
    assert redis_source.client().ping() is True
    assert redis_destination.client().ping() is True
    info = redis_source.client().info("persistence")
    assert info["aof_enabled"] == 0
    assert redis_source.client().config_get("save") == {"save": ""}


def test_flush_redis_and_key_prefix(redis_source, flush_redis, key_prefix):
    redis_source.client(db=3).set("left-over", 1)
    client = flush_redis(redis_source)
    assert client.dbsize() == 0 and redis_source.client(db=3).dbsize() == 0
    client.set(key_prefix + "a", "1")
    assert client.get(key_prefix + "a") == b"1"
    assert key_prefix.startswith("t:test_flush_redis_and_key_prefix:")


def test_redis_restart_without_persistence_loses_data(redis_factory):
    server = redis_factory()
    port = server.port
    server.client().set("k", "v")
    server.restart()
    assert server.port == port
    assert server.client().get("k") is None  # expected: save "" and appendonly no


def test_redis_kill_and_start(redis_factory):
    server = redis_factory()
    server.kill()
    assert not server.running
    with pytest.raises(redis.ConnectionError):
        server.client().ping()
    server.start()
    assert server.client().ping()


def test_redis_requirepass_acl_and_extra_config(redis_factory):
    server = redis_factory(
        password="s3cret",
        config=["user reader on >readpw ~* &* +@read +ping"],
        args=["--repl-backlog-size", "16kb"],
    )
    with pytest.raises(redis.AuthenticationError):
        server.client(password=None).ping()
    with pytest.raises(redis.AuthenticationError):
        server.client(password="wrong").ping()
    c = server.client(decode_responses=True)
    assert c.set("k", "v") and c.get("k") == "v"
    assert c.config_get("repl-backlog-size") == {"repl-backlog-size": "16384"}
    reader = server.client(username="reader", password="readpw", decode_responses=True)
    assert reader.get("k") == "v"
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.set("k", "w")


def test_shared_server_is_revived_after_a_test_kills_it(redis_destination, dtsctl_servers):
    port = redis_destination.port
    redis_destination.kill()
    dtsctl_servers.revive()  # what the autouse fixture does after every test
    assert redis_destination.running and redis_destination.port == port
    assert redis_destination.client().ping()


def test_redis_cluster_routes_keys(redis_cluster, flush_redis):
    assert len(redis_cluster.nodes) == 3
    assert set(redis_cluster.ports).isdisjoint(MACHINE_PORTS)
    for node in redis_cluster.nodes:
        info = redis_cluster.cluster_info(node)
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == 16384
    client = flush_redis(redis_cluster)
    keys = [f"k{i}" for i in range(30)]
    for k in keys:
        client.set(k, k)
    assert [client.get(k) for k in keys] == [k.encode() for k in keys]
    owners = {client.get_node_from_key(k).port for k in keys}
    assert owners == set(redis_cluster.ports)  # keys spread over all three masters
    per_node = [n.client().dbsize() for n in redis_cluster.nodes]
    assert sum(per_node) == len(keys) and all(per_node)


# -- helpers ----------------------------------------------------------------------

def test_sentinels_promote_the_replica_and_the_old_master_follows_it(redis_sentinel_factory):
    group = redis_sentinel_factory()
    old = group.master()
    old.client().set("before", "1")
    new = group.failover()
    assert new is not old and group.master() is new
    assert new.client().get("before") == b"1"
    new.client().set("after", "2")
    assert old.client().info("replication")["role"] == "slave"


def test_free_ports_are_never_handed_out_twice():
    got = [ports.free_port() for _ in range(50)]
    assert len(set(got)) == 50
    assert set(got).isdisjoint(MACHINE_PORTS)
    assert set(got) <= ports.handed_out()


def test_binaries_found():
    found = binaries.ensure_installed()
    assert set(found) == {"mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump",
                          "redis-server", "redis-cli", "etcd", "nats-server"}
    assert all(found.values())


def test_missing_binary_fails_with_install_hint(monkeypatch):
    # Simulates an unprivileged machine without the binary: no database behaviour involved.
    monkeypatch.setattr(binaries, "find", lambda name: None)
    monkeypatch.setattr(binaries, "_can_apt", lambda: False)
    monkeypatch.setattr(binaries, "_ensured", set())
    with pytest.raises(binaries.MissingBinaryError) as exc:
        binaries.ensure_installed(["mariadbd", "redis-cli"])
    message = str(exc.value)
    assert "install mariadb-server, redis-server and etcd-server" in message
    assert "apt-get install" in message and "redis-tools" in message


# -- servers never outlive the test process ------------------------------------------

_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.servers import RedisServer, process
process.install_sigterm_handler()
server = RedisServer().start()
print(server.port, server.dir, flush=True)
{then}
"""


def _port_closed(port: int, within: float = 10.0) -> bool:
    import socket
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    "how, dir_removed",
    [("exit", True), ("SIGTERM", True), ("SIGKILL", False)],
)
def test_servers_stop_when_the_test_process_ends(how, dir_removed):
    import pathlib
    import signal

    then = "sys.exit(0)" if how == "exit" else "time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(repo=_REPO, then=then)],
                             stdout=subprocess.PIPE, text=True)
    try:
        port_text, server_dir = child.stdout.readline().split()
        port = int(port_text)
        if how != "exit":
            child.send_signal(getattr(signal, how))
        child.wait(20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # exit: atexit; SIGTERM: our handler; SIGKILL: PR_SET_PDEATHSIG in the server.
    assert _port_closed(port), f"redis-server on {port} survived {how} of its test process"
    assert (not pathlib.Path(server_dir).exists()) == dir_removed
    if not dir_removed:  # a hard kill leaves it for the next session's sweep; tidy now
        import shutil

        shutil.rmtree(pathlib.Path(server_dir).parent, ignore_errors=True)


@pytest.mark.parametrize("kind", ["redis", "mariadb"])
def test_port_taken_after_probe_is_retried_on_a_new_port(kind):
    import socket

    from tests.servers.redis import RedisServer

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    server = RedisServer() if kind == "redis" else MariaDBServer(server_id=55)
    picks = iter([taken])
    server.pick_port = lambda: next(picks, None) or ports.free_port()
    try:
        server.start()
        assert server.port != taken and server.running
        assert "already in use" in server.log_tail().lower()
    finally:
        server.close()
        squatter.close()
