"""A private ``mariadbd`` on a free loopback port, configured for CDC.

Defaults follow the engine notes in docs/architecture: binlog ON, ROW format,
FULL row image and FULL row metadata, root with an empty password over TCP.
Sized small for tests (64M buffer pool, 16M redo log, no performance_schema,
relaxed durability that still survives SIGKILL of the server: flush at commit=2
and sync_binlog=0 write to the OS cache at every commit).

``mariadb-install-db`` runs once per process into a template datadir that is
copied for every server (install-db takes ~0.7 s, a copy ~0.05 s).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pymysql

from tests.servers import binaries
from tests.servers.process import ServerProcess, ServerStartError, session_root

# Options that shape the datadir files: used by install-db and by every server.
_INNODB_SIZING = ("--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M")

_template_lock = threading.Lock()
_template: Path | None = None


def install_db(datadir: Path) -> None:
    """Run mariadb-install-db into ``datadir`` (root: empty password, TCP ok)."""
    # A private tmpdir: mariadbd deletes every #sql* file in its tmpdir at start-up,
    # so servers sharing /tmp break each other's (and the machine's) temp tables.
    tmpdir = datadir.parent / f"{datadir.name}-tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        binaries.path("mariadb-install-db"),
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        f"--tmpdir={tmpdir}",
        *_INNODB_SIZING,
    ]
    if os.geteuid() == 0:
        cmd.append("--user=root")
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shutil.rmtree(tmpdir, ignore_errors=True)
    if result.returncode != 0:
        raise ServerStartError(
            f"mariadb-install-db failed (exit {result.returncode}):\n{result.stdout[-3000:]}"
        )


def template_datadir() -> Path:
    """The per-process template datadir, created on first call."""
    global _template
    with _template_lock:
        if _template is None or not (_template / "mysql").is_dir():
            d = session_root() / "mariadb-template"
            shutil.rmtree(d, ignore_errors=True)
            install_db(d)
            _template = d
        return _template


class MariaDBServer(ServerProcess):
    """A private MariaDB server.

    Parameters:
        server_id: ``--server-id`` (give each server of a replication pair its own).
        log_bin: False starts without a binary log (log_bin=OFF), e.g. for
            precheck-failure tests. ``--skip-log-bin`` in ``extra_args`` does the same.
        extra_args: more ``mariadbd`` options, appended last so they override the
            defaults (``["--binlog-format=STATEMENT"]``, ``["--gtid-strict-mode=ON"]``).
        use_template: copy the per-process template datadir (fast) instead of
            running mariadb-install-db for this server.
        port: a fixed port (default: a free one, kept across restarts).
    """

    kind = "mariadb"
    startup_timeout = 60.0

    def __init__(
        self,
        *,
        server_id: int = 1,
        log_bin: bool = True,
        extra_args: Sequence[str] = (),
        use_template: bool = True,
        port: int | None = None,
        base_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(base_dir=base_dir)
        self.server_id = server_id
        self.extra_args = list(extra_args)
        self.log_bin = log_bin and "--skip-log-bin" not in self.extra_args
        self.use_template = use_template
        self.port = port
        self.datadir = self.dir / "data"
        self._conn: pymysql.Connection | None = None
        self._conn_lock = threading.Lock()

    # -- process -------------------------------------------------------------
    @property
    def socket(self) -> Path:
        return self.dir / "sock"

    @property
    def error_log(self) -> Path:
        return self.dir / "error.log"

    def log_path(self) -> Path:
        return self.error_log

    def prepare(self) -> None:
        (self.dir / "tmp").mkdir(exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            binaries.ensure_installed(binaries.MARIADB_BINARIES)
            if self.use_template:
                shutil.copytree(template_datadir(), self.datadir)
            else:
                install_db(self.datadir)

    def command(self) -> list[str]:
        d = self.dir
        cmd = [
            binaries.path("mariadbd"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--server-id={self.server_id}",
            f"--pid-file={d / 'mariadbd.pid'}",
            f"--log-error={self.error_log}",
            f"--tmpdir={d / 'tmp'}",  # never /tmp: start-up deletes #sql* files there
            "--skip-name-resolve",
            *_INNODB_SIZING,
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-use-native-aio=0",  # many servers on one box exhaust fs.aio-max-nr
            "--sync-binlog=0",
            "--performance-schema=OFF",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--max-connections=300",
        ]
        if self.log_bin:
            cmd += [
                f"--log-bin={d / 'bin'}",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
            ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        cmd += [a for a in self.extra_args]
        return cmd

    def ping(self) -> bool:
        # read/write timeouts too: a stranger listening on the port (we lost the
        # probe race) would otherwise accept and never send a handshake.
        conn = pymysql.connect(
            host=self.host, port=self.port, user="root", password="",
            connect_timeout=2, read_timeout=2, write_timeout=2,
        )
        conn.close()
        return True

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def stop(self, timeout: float | None = None) -> None:
        self._drop_conn()
        super().stop(timeout)

    def kill(self) -> None:
        self._drop_conn()
        super().kill()

    # -- SQL -----------------------------------------------------------------
    def connection_settings(self, user: str = "root", password: str = "", **extra: Any) -> dict:
        """Keyword arguments for ``pymysql.connect`` and for
        ``BinLogStreamReader(connection_settings=...)``."""
        return {"host": self.host, "port": self.port, "user": user, "password": password, **extra}

    def root_connect(self, **kw: Any) -> pymysql.Connection:
        """A new pymysql connection as root over TCP (autocommit, utf8mb4)."""
        params = dict(self.connection_settings(), autocommit=True, charset="utf8mb4",
                      connect_timeout=10)
        params.update(kw)
        return pymysql.connect(**params)

    def connect(self, user: str, password: str = "", **kw: Any) -> pymysql.Connection:
        """A new pymysql connection as ``user`` over TCP."""
        return self.root_connect(user=user, password=password, **kw)

    def _cursor_run(self, sql: str, args: tuple) -> tuple[int, list[tuple]]:
        with self._conn_lock:
            if self._conn is not None:
                try:
                    self._conn.ping(reconnect=False)
                except pymysql.err.Error:
                    self._drop_conn()
            if self._conn is None:
                self._conn = self.root_connect()
            with self._conn.cursor() as cur:
                n = cur.execute(sql, args or None)
                rows = list(cur.fetchall()) if cur.description else []
            return n, rows

    def execute(self, sql: str, *args: Any) -> int:
        """Run one statement as root (autocommit); returns the affected row count.
        ``%s`` placeholders take ``args``."""
        return self._cursor_run(sql, args)[0]

    def query(self, sql: str, *args: Any) -> list[tuple]:
        """Rows of one statement as tuples."""
        return self._cursor_run(sql, args)[1]

    def query_one(self, sql: str, *args: Any) -> tuple | None:
        rows = self.query(sql, *args)
        return rows[0] if rows else None

    def scalar(self, sql: str, *args: Any) -> Any:
        row = self.query_one(sql, *args)
        return row[0] if row else None

    def variable(self, name: str) -> Any:
        """``@@GLOBAL.<name>``; ON/OFF booleans come back as 1/0 for a few, so use
        :meth:`show_variable` when you want the SHOW text."""
        if not re.fullmatch(r"\w+", name):
            raise ValueError(name)
        return self.scalar(f"SELECT @@GLOBAL.{name}")

    def show_variable(self, name: str) -> str | None:
        """The text ``SHOW GLOBAL VARIABLES`` shows (``ON``, ``ROW``, ``FULL``...)."""
        row = self.query_one("SHOW GLOBAL VARIABLES LIKE %s", name)
        return row[1] if row else None

    def create_user(
        self,
        name: str,
        password: str = "",
        grants: str | Iterable[str] = ("ALL PRIVILEGES ON *.*",),
        host: str = "%",
    ) -> dict:
        """CREATE USER (replacing one of that name) and GRANT each privilege spec,
        e.g. ``"REPLICATION SLAVE, REPLICATION CLIENT ON *.*"`` or ``"SELECT ON db.*"``.
        Returns :meth:`connection_settings` for the user."""
        if isinstance(grants, str):
            grants = [grants]
        self.execute("CREATE OR REPLACE USER %s@%s IDENTIFIED BY %s", name, host, password)
        for spec in grants:
            self.execute(f"GRANT {spec} TO %s@%s", name, host)
        return self.connection_settings(name, password)

    def drop_user(self, name: str, host: str = "%") -> None:
        self.execute("DROP USER IF EXISTS %s@%s", name, host)

    def create_database(self, name: str) -> str:
        self.execute(f"CREATE DATABASE `{name}`")
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def gtid_binlog_pos(self) -> str:
        """``@@gtid_binlog_pos``: where a GTID (``auto_position``) reader starts
        to see only what happens from now on."""
        return self.scalar("SELECT @@GLOBAL.gtid_binlog_pos") or ""

    def binlog_position(self) -> tuple[str, int]:
        """(file, position) from SHOW MASTER STATUS."""
        row = self.query_one("SHOW MASTER STATUS")
        if row is None:
            raise RuntimeError("binary log is disabled on this server")
        return row[0], int(row[1])

    # -- command-line clients -------------------------------------------------
    def client_args(self, user: str = "root", password: str = "") -> list[str]:
        """argv prefix for the ``mariadb`` client against this server."""
        args = [binaries.path("mariadb"), "--no-defaults", "--protocol=TCP",
                f"--host={self.host}", f"--port={self.port}", f"--user={user}"]
        if password:
            args.append(f"--password={password}")
        return args

    def dump_args(self, user: str = "root", password: str = "") -> list[str]:
        """argv prefix for ``mariadb-dump`` against this server."""
        args = [binaries.path("mariadb-dump"), "--no-defaults", "--protocol=TCP",
                f"--host={self.host}", f"--port={self.port}", f"--user={user}"]
        if password:
            args.append(f"--password={password}")
        return args
