"""Freezing writes on a MySQL/MariaDB source for a cutover, without FLUSH TABLES WITH READ LOCK.

`SET GLOBAL read_only = ON` refuses new writes from every account without SUPER or READ ONLY
ADMIN (the application's); transactions that already wrote are left to end by themselves, and
the freeze waits for them by watching information_schema.INNODB_TRX, so nothing in flight is
cut off and the binlog position read afterwards is the final one.
"""

from __future__ import annotations

import time

import pymysql

from dtsctl.connectors.mysql.connection import query, scalar
from dtsctl.errors import DtsError

# InnoDB refreshes INNODB_TRX only when nobody read it for 0.1 s: polling faster would see the
# transactions of the moment of the first read for ever.
POLL_SECONDS = 0.12
_OPEN_WRITERS = ("SELECT t.trx_mysql_thread_id, p.USER, t.trx_state FROM information_schema.INNODB_TRX t "
                 "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                 "WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND (t.trx_rows_modified > 0 OR t.trx_state = 'LOCK WAIT')")


def freeze(conn: pymysql.Connection, drain_seconds: float) -> None:
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION lock_wait_timeout = %s", (max(int(drain_seconds), 1),))
        cursor.execute("SET GLOBAL read_only = ON")
    deadline = time.monotonic() + drain_seconds
    while True:
        open_writers = query(conn, _OPEN_WRITERS)
        if not open_writers:
            return
        if time.monotonic() > deadline:
            named = ", ".join(f"{thread} ({user}, {state.lower()})" for thread, user, state in open_writers[:5])
            raise DtsError(f"{len(open_writers)} write transaction(s) on the source (connection {named}) stayed "
                           f"open {drain_seconds:g}s after the freeze; end them (commit, roll back or KILL) and "
                           "apply again")
        time.sleep(POLL_SECONDS)


def unfreeze(conn: pymysql.Connection) -> None:
    if scalar(conn, "SELECT @@GLOBAL.read_only"):
        with conn.cursor() as cursor:
            cursor.execute("SET GLOBAL read_only = OFF")
