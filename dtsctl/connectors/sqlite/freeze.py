"""Freezing writes on a SQLite source for a cutover: refusing triggers on the captured tables.

An exclusive lock would also stop dtsctl's own reader (it deletes what it read from the capture
table), so the freeze instead puts BEFORE INSERT/UPDATE/DELETE triggers that RAISE(ABORT) on every
table the task captures; dtsctl never writes those tables of its source. They are created in one
BEGIN IMMEDIATE transaction: SQLite has one writer, so taking the write lock waits for the write
in flight to commit, and every write after it meets the triggers. The capture id read then is final.
"""

from __future__ import annotations

import sqlite3

from dtsctl.connectors.sqlite import capture
from dtsctl.connectors.sqlite.connection import quote, transaction
from dtsctl.errors import DtsError

_OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def freeze(conn: sqlite3.Connection, task_id: str, path: str, drain_seconds: float) -> None:
    """Refuse writes to the task's captured tables once the write in flight has committed."""
    message = f"frozen by dtsctl cutover of {task_id}: write to the new primary".replace("'", "''")
    conn.execute(f"PRAGMA busy_timeout = {int(drain_seconds * 1000)}")
    try:
        with transaction(conn):
            for table in sorted(capture.captured_tables(conn, task_id)):
                for operation in _OPERATIONS:
                    name = quote(f"{capture.freeze_prefix(task_id)}{table}_{operation.lower()}")
                    conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {operation} ON {quote(table)} "
                                 f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise DtsError(f"a write transaction on the source file {path} stayed open {drain_seconds:g}s; end it "
                       "(commit or roll back) and apply again") from exc


def unfreeze(conn: sqlite3.Connection, task_id: str) -> None:
    with transaction(conn):
        capture.drop_freeze_triggers(conn, task_id)
