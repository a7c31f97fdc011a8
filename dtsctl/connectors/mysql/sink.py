"""The MySQL/MariaDB Sink: creates databases and tables, applies changes by key, and stores
the applier checkpoint in `dtsctl_meta.checkpoints` in the same transaction as the data.

Runs of consecutive changes of one shape (same table, operation, policy and columns)
go out as one multi-row statement, values as literal text (`escape.RowLiterals`); a run
of inserts that meets an existing row is rolled back to a savepoint and replayed row by
row to find, name and resolve it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import time
from typing import Any, Callable, Iterator, Sequence

import pymysql

from dtsctl.connectors.mysql import ddl, literals, precheck, snapshot
from dtsctl.connectors.mysql.connection import (address, connect, error_code, qualified, query, quote, scalar,
                                                translate_errors)
from dtsctl.connectors.mysql.escape import RowLiterals
from dtsctl.connectors.mysql.localinfile import MemoryInfileConnection
from dtsctl.connectors.mysql.row_events import Native, binlog_statements, renamed
from dtsctl.connectors.mysql.schema import (CHECKPOINT_TABLE, DIALECT, FENCING_COLUMN, META_DATABASE, ORIGIN_COLUMN,
                                            create_table_from_columns, create_table_statement, deferrable_keys,
                                            key_name, read_schema, without_keys)
from dtsctl.engine.tables.checksum import table_checksum
from dtsctl.engine.checkpoint import check_fencing
from dtsctl.engine.conflicts import Conflicts
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.events import ConflictCounts, Row, RowChange, SchemaChange
from dtsctl.engine.tables.interfaces import EncodedRows, Sink, TableSchema

log = logging.getLogger(__name__)

ER_DUP_ENTRY = 1062
FENCE_LOCK_SECONDS = 10  # how long a new owner waits for a killed former owner's lock to go
ER_SPECIFIC_ACCESS_DENIED = 1227  # BINLOG without the BINLOG REPLAY (MariaDB) / BINLOG_ADMIN (MySQL) privilege
ER_UNKNOWN_SYSTEM_VARIABLE = 1193  # binlog_annotate_row_events on MySQL (which does not annotate by default)
NATIVE_PAUSE_BATCHES = 20  # after the destination refused a batch's row events, batches applied as SQL
# Errors a replayed DDL statement meets when its change is already in place.
_ALREADY_DONE = {1050, 1051, 1054, 1060, 1061, 1091, 1146, 1176}


class MysqlSink(Sink):
    # Two LOAD DATA connections load a table in about two thirds of one's time on a 2-core
    # machine; a third adds nothing there (docs/benchmarks.md, issue 13's fourth round).
    copy_writers = 2
    applies_elsewhere = True

    def __init__(self, endpoint: dict[str, Any], task_id: str, origin: str | None = None, writer: int = 0) -> None:
        super().__init__(endpoint, task_id, origin)
        self._writer = writer  # 0: the task's own connection; else a full-copy writer's
        self._conn: MemoryInfileConnection | None = None
        self._literals: RowLiterals | None = None
        self._loads_local: bool | None = None  # whether the server takes LOAD DATA LOCAL (`local_infile`)
        self._meta_ready = False
        self._native_pause = 0  # batches still to apply as SQL after the destination refused row events
        self._native_refused = False  # for good: the destination user lacks the privilege
        self._max_packet = 0  # the destination's max_allowed_packet (0: not read on this connection)
        self._annotating = True  # the session annotates row events with their statement (MariaDB's default)

    def another(self, writer: int) -> MysqlSink:
        return MysqlSink(self.endpoint, self.task_id, self.origin, writer)

    @property
    def conn(self) -> MemoryInfileConnection:
        if self._conn is None:
            conn = connect(self.endpoint, "destination", MemoryInfileConnection)
            assert isinstance(conn, MemoryInfileConnection)
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION foreign_key_checks = 0")  # rows arrive in key order, not FK order
            self._conn = conn
            self._literals = RowLiterals(conn)
        return self._conn

    @property
    def literals(self) -> RowLiterals:
        """Value literals escaped as the current connection escapes them (made with it)."""
        self.conn  # noqa: B018  (connects, and makes them, when there is no connection)
        assert self._literals is not None
        return self._literals

    def encoded_dialect(self, keep_existing: bool) -> str | None:
        """LOAD DATA lines when the server takes them; INSERT literals when it does not, or when
        existing rows are kept (LOAD DATA could only IGNORE them, which hides value errors too)."""
        if self._loads_local is None:
            with self._errors():
                self._loads_local = bool(int(scalar(self.conn, "SELECT @@GLOBAL.local_infile")))
        return literals.LOAD_FORM if self._loads_local and not keep_existing else literals.INSERT_FORM

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.err.Error):
                self._conn.close()
            self._conn = None
            self._max_packet = 0
            self._annotating = True

    def _errors(self) -> Any:
        return translate_errors("destination", self.endpoint)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        with self._errors():
            self._ensure_meta()
            self.conn.begin()
            try:
                with self.conn.cursor() as cursor:
                    yield cursor
            except BaseException:
                with contextlib.suppress(pymysql.err.Error):
                    self.conn.rollback()
                raise
            self.conn.commit()

    # -- checks ---------------------------------------------------------------------
    def check_connection(self) -> None:
        with self._errors():
            scalar(self.conn, "SELECT 1")

    def check_settings(self, source_version: str | None) -> list[str]:
        with self._errors():
            return precheck.destination_problems(self.conn, self.endpoint, source_version)

    # -- checkpoint -----------------------------------------------------------------
    def _ensure_meta(self) -> None:
        if self._meta_ready:
            return
        with self.conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quote(META_DATABASE)} CHARACTER SET utf8mb4")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {qualified(META_DATABASE, CHECKPOINT_TABLE)} "
                f"(task_id VARCHAR(64) NOT NULL PRIMARY KEY, data LONGTEXT NOT NULL, updated_at DOUBLE NOT NULL, "
                f"{ORIGIN_COLUMN} VARCHAR(64) NULL) ENGINE=InnoDB"
            )
            cursor.execute(f"ALTER TABLE {qualified(META_DATABASE, CHECKPOINT_TABLE)} "
                           f"ADD COLUMN IF NOT EXISTS {ORIGIN_COLUMN} VARCHAR(64) NULL")
            cursor.execute(f"ALTER TABLE {qualified(META_DATABASE, CHECKPOINT_TABLE)} "
                           f"ADD COLUMN IF NOT EXISTS {FENCING_COLUMN} BIGINT NULL")
        self._meta_ready = True

    def _lock_name(self, writer: int) -> str:
        return f"dtsctl:{self.task_id}" + (f":writer-{writer}" if writer else "")

    def fence(self, token: int) -> None:
        """Hold this connection's named lock for its life, and stamp the checkpoint row with `token`
        so that a former owner can never commit again. The task's own connection first kills every
        connection of a former owner that still holds one of the task's locks (a frozen or cut-off
        host keeps its transactions and row locks open until then), its copy writers' included."""
        lock = self._lock_name(self._writer)
        table = qualified(META_DATABASE, CHECKPOINT_TABLE)
        with self._errors():
            self._ensure_meta()
            check_fencing(scalar(self.conn, f"SELECT {FENCING_COLUMN} FROM {table} WHERE task_id = %s",
                                 (self.task_id,)), token)
            own = scalar(self.conn, "SELECT CONNECTION_ID()")
            names = [lock] if self._writer else [self._lock_name(writer) for writer in range(self.copy_writers)]
            for name in names:
                holder = scalar(self.conn, "SELECT IS_USED_LOCK(%s)", (name,))
                if holder is not None and holder != own:
                    log.warning("stopping connection %s of a former owner of this task", holder)
                    with contextlib.suppress(pymysql.err.OperationalError):  # it ended meanwhile
                        query(self.conn, f"KILL {int(holder)}")
            if scalar(self.conn, "SELECT GET_LOCK(%s, %s)", (lock, FENCE_LOCK_SECONDS)) != 1:
                raise ConnectionFailure(f"destination {address(self.endpoint)}: a former owner of this task still "
                                        "holds its lock; retrying")
        with self._transaction() as cursor:
            cursor.execute(f"SELECT {FENCING_COLUMN} FROM {table} WHERE task_id = %s FOR UPDATE", (self.task_id,))
            row = cursor.fetchone()
            check_fencing(row[0] if row else None, token)
            cursor.execute(f"UPDATE {table} SET {FENCING_COLUMN} = %s WHERE task_id = %s", (token, self.task_id))

    def load_checkpoint(self) -> dict[str, Any] | None:
        with self._errors():
            if not self._table_exists(META_DATABASE, CHECKPOINT_TABLE):
                return None
            data = scalar(self.conn, f"SELECT data FROM {qualified(META_DATABASE, CHECKPOINT_TABLE)} "
                                     "WHERE task_id = %s", (self.task_id,))
        return None if data is None else json.loads(data)

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        with self._transaction() as cursor:
            self._store(cursor, checkpoint)

    def delete_checkpoint(self) -> None:
        """Delete this task's row; the last task writing here also drops `dtsctl_meta`. The table is
        write-locked from the count to its drop, so a checkpoint committed meanwhile is never lost
        (a first one of a starting task fails, and that task starts again)."""
        with self._errors():
            if not self._table_exists(META_DATABASE, CHECKPOINT_TABLE):
                return
            table = qualified(META_DATABASE, CHECKPOINT_TABLE)
            query(self.conn, f"DELETE FROM {table} WHERE task_id = %s", (self.task_id,))
            with self.conn.cursor() as cursor:
                cursor.execute(f"LOCK TABLES {table} WRITE")
                try:
                    if scalar(self.conn, f"SELECT count(*) FROM {table}") == 0:
                        cursor.execute(f"DROP TABLE {table}")
                finally:
                    cursor.execute("UNLOCK TABLES")
                if not scalar(self.conn, "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                              (META_DATABASE,)):
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(META_DATABASE)}")
            self._meta_ready = False

    def _store(self, cursor: Any, checkpoint: dict[str, Any]) -> None:
        """Write the checkpoint in the open transaction. With a fencing token (cluster runtime) the
        write is refused when a newer owner has written the row: one UPDATE that only matches while
        the stored token is not newer (no extra round trip); the row is locked and read only when it
        does not match, which is a first write or a fenced owner."""
        table = qualified(META_DATABASE, CHECKPOINT_TABLE)
        token = checkpoint.get("fencing_token")
        values = (json.dumps(checkpoint), time.time(), self.origin, token)
        if token is not None:
            if cursor.execute(f"UPDATE {table} SET data = %s, updated_at = %s, {ORIGIN_COLUMN} = %s, "
                              f"{FENCING_COLUMN} = %s WHERE task_id = %s AND "
                              f"({FENCING_COLUMN} IS NULL OR {FENCING_COLUMN} <= %s)", (*values, self.task_id, token)):
                return  # matched rows (CLIENT.FOUND_ROWS): written under this owner's token
            cursor.execute(f"SELECT {FENCING_COLUMN} FROM {table} WHERE task_id = %s FOR UPDATE", (self.task_id,))
            row = cursor.fetchone()
            check_fencing(row[0] if row else None, token)
        cursor.execute(
            f"INSERT INTO {table} (task_id, data, updated_at, {ORIGIN_COLUMN}, {FENCING_COLUMN}) "
            "VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE data = VALUES(data), updated_at = VALUES(updated_at), "
            f"{ORIGIN_COLUMN} = VALUES({ORIGIN_COLUMN}), {FENCING_COLUMN} = VALUES({FENCING_COLUMN})",
            (self.task_id, *values),
        )

    # -- tables ---------------------------------------------------------------------
    def table_exists(self, database: str, table: str) -> bool:
        with self._errors():
            return self._table_exists(database, table)

    def _table_exists(self, database: str, table: str) -> bool:
        return bool(scalar(self.conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                                      "AND TABLE_NAME = %s", (database, table)))

    def row_count(self, database: str, table: str) -> int | None:
        with self._errors():
            if not self._table_exists(database, table):
                return None
            return int(scalar(self.conn, f"SELECT count(*) FROM {qualified(database, table)}"))

    def empty_table(self, database: str, table: str) -> None:
        with self._errors():
            if self._table_exists(database, table):
                query(self.conn, f"TRUNCATE TABLE {qualified(database, table)}")

    def create_table(self, schema: TableSchema, database: str, table: str, deferred: Sequence[str] = ()) -> None:
        if schema.dialect == DIALECT and schema.definition:
            own = dataclasses.replace(schema, definition=without_keys(schema.definition, deferred))
            statement = create_table_statement(own, database, table)
        else:
            statement = create_table_from_columns(schema, database, table)
        with self._errors(), self.conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)} {schema.database_options}")
            cursor.execute(statement)

    def deferrable_indexes(self, schema: TableSchema) -> list[str]:
        return deferrable_keys(schema.definition) if schema.dialect == DIALECT else []

    def build_indexes(self, database: str, table: str, deferred: Sequence[str]) -> None:
        """One ALTER TABLE adding the keys the table lacks: InnoDB builds each from sorted runs."""
        with self._errors():
            present = {name for (name,) in query(self.conn, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                                                            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, table))}
            missing = [key for key in deferred if key_name(key) not in present]
            if missing:
                query(self.conn, f"ALTER TABLE {qualified(database, table)} {', '.join(f'ADD {key}' for key in missing)}")

    def checksum(self, schema: TableSchema, database: str, table: str) -> tuple[int, str]:
        with self._errors():
            return table_checksum(snapshot.ordered_rows(self.conn, schema, database, table, None))

    def read_range(self, schema: TableSchema, database: str, table: str, after_key: Sequence[Any] | None,
                   upto_key: Sequence[Any] | None) -> list[Row]:
        with self._errors():
            return snapshot.read_range(self.conn, dataclasses.replace(schema, database=database, name=table),
                                       after_key, upto_key)

    def read_keys(self, schema: TableSchema, database: str, table: str, keys: Sequence[Sequence[Any]]) -> list[Row]:
        with self._errors():
            return snapshot.read_keys(self.conn, dataclasses.replace(schema, database=database, name=table), keys, None)

    # -- data -----------------------------------------------------------------------
    def write_rows(self, schema: TableSchema, database: str, table: str, rows: Sequence[Row],
                   checkpoint: dict[str, Any], keep_existing: bool = False) -> None:
        with self._transaction() as cursor:
            if rows:
                columns = tuple(rows[0])
                write_sql = _keep_existing_sql if keep_existing else _upsert_sql
                literals = [self.literals.row(row.values()) for row in rows]
                for batch in _statement_batches(literals, pymysql.cursors.Cursor.max_stmt_length):
                    cursor.execute(write_sql(database, table, columns, schema.key, ",".join(batch)))
            self._store(cursor, checkpoint)

    def write_encoded_rows(self, schema: TableSchema, database: str, table: str, rows: EncodedRows,
                           checkpoint: dict[str, Any], keep_existing: bool = False) -> None:
        write_sql = _keep_existing_sql if keep_existing else _upsert_sql
        with self._transaction() as cursor:
            if rows.dialect == literals.LOAD_FORM:
                data = "\n".join(rows.rows).encode()
                self.conn.load(cursor, literals.load_statement(database, table, schema.columns), data)
            else:
                for batch in _statement_batches(rows.rows, pymysql.cursors.Cursor.max_stmt_length):
                    cursor.execute(write_sql(database, table, schema.column_names, schema.key, ",".join(batch)))
            self._store(cursor, checkpoint)

    def apply(self, changes: Sequence[RowChange], keys: dict[tuple[str, str], tuple[str, ...]],
              checkpoint: Callable[[ConflictCounts], dict[str, Any]], conflicts: Conflicts) -> ConflictCounts:
        counts = ConflictCounts()
        with self._transaction() as cursor:
            self._annotate(cursor, True)
            for shape, run in itertools.groupby(changes, key=_shape):
                _Run(cursor, self.literals, list(run), keys[(shape[0], shape[1])], conflicts, counts).apply()
            self._store(cursor, checkpoint(counts))
        return counts

    def apply_native(self, natives: Sequence[Native], names: dict[tuple[str, str], tuple[str, str]],
                     columns: dict[tuple[str, str], tuple[str, ...]], checkpoint: dict[str, Any]) -> bool:
        """The source's row events as `BINLOG` statements (dtsctl.connectors.mysql.row_events), when
        every table has the source's columns in the source's order (row events name columns by
        position) and the destination takes them."""
        if self._native_refused:
            return False
        if self._native_pause:
            self._native_pause -= 1
            return False
        with self._errors():
            self._ensure_meta()
            if not self._max_packet:
                self._max_packet = int(scalar(self.conn, "SELECT @@max_allowed_packet"))
            if not self._takes_row_events(columns):
                return False
            renames = {source: target for source, target in names.items() if source != target}
            if renames:
                natives = renamed(natives, renames)
            self.conn.begin()
            try:
                with self.conn.cursor() as cursor:
                    self._annotate(cursor, False)
                    for statement in binlog_statements(natives, self._max_packet):
                        cursor.execute(statement)
                    self._store(cursor, checkpoint)
            except pymysql.err.MySQLError as exc:
                with contextlib.suppress(pymysql.err.Error):
                    self.conn.rollback()
                if not 0 < error_code(exc) < 2000:  # the client's own errors: connection lost, ...
                    raise
                self._native_refused_by(exc)
                return False
            self.conn.commit()
        return True

    def _annotate(self, cursor: Any, on: bool) -> None:
        """MariaDB annotates each statement's row events with the statement's text in its binlog: for
        a BINLOG statement that is the whole statement again for each source statement in it (a
        batch's size squared). Off while applying row events, back to the server's default after."""
        if self._annotating != on:
            try:
                cursor.execute(f"SET SESSION binlog_annotate_row_events = {'DEFAULT' if on else 'OFF'}")
            except pymysql.err.MySQLError as exc:
                if error_code(exc) != ER_UNKNOWN_SYSTEM_VARIABLE:
                    raise
            self._annotating = on

    def _native_refused_by(self, exc: pymysql.err.MySQLError) -> None:
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        if error_code(exc) == ER_SPECIFIC_ACCESS_DENIED:
            self._native_refused = True
            log.warning("destination %s: applying changes as SQL statements, not as the source's row events "
                        "(%s); grant the destination user BINLOG REPLAY (MariaDB) or BINLOG_ADMIN (MySQL) "
                        "for the faster path", address(self.endpoint), reason)
        else:
            self._native_pause = NATIVE_PAUSE_BATCHES
            log.info("destination %s refused the source's row events (%s): applying them as SQL statements",
                     address(self.endpoint), reason)

    def _takes_row_events(self, columns: dict[tuple[str, str], tuple[str, ...]]) -> bool:
        """True when each destination table has exactly these columns in this order (row events name
        columns by position) and no triggers (a statement fires them; applied row events do not)."""
        tables = list(columns)
        found: dict[tuple[str, str], list[str]] = {table: [] for table in tables}
        one = ("(SELECT %s, COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS "
               "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s) UNION ALL "
               "(SELECT %s, NULL, 0 FROM information_schema.TRIGGERS "
               "WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s)")  # equalities: only that table is opened
        arguments = tuple(value for number, table in enumerate(tables) for _ in range(2) for value in (number, *table))
        for number, column, _ in query(self.conn, " UNION ALL ".join([one] * len(tables)) + " ORDER BY 1, 3", arguments):
            if column is None:
                return False  # a trigger
            found[tables[int(number)]].append(column)
        return all(tuple(found[table]) == names for table, names in columns.items())

    def table_key(self, database: str, table: str) -> tuple[str, ...]:
        with self._errors():
            schema = read_schema(self.conn, database, table)
        return schema.key if schema is not None else ()

    def apply_ddl(self, change: SchemaChange, database: str, table: str, new_table: str | None,
                  replay: bool, checkpoint: dict[str, Any]) -> None:
        if change.dialect != DIALECT:
            super().apply_ddl(change, database, table, new_table, replay, checkpoint)
        statement = ddl.statement_for(change, database, table, new_table)
        with self._errors(), self.conn.cursor() as cursor:
            if change.kind == "create":
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
            try:
                cursor.execute(statement)  # DDL commits implicitly: the checkpoint follows on its own
            except pymysql.err.MySQLError as exc:
                if not (replay and error_code(exc) in _ALREADY_DONE):
                    raise
                log.info("%s was already applied (%s)", statement, exc.args[1] if len(exc.args) > 1 else exc)
        log.info("replicated DDL: %s", statement)
        self.save_checkpoint(checkpoint)


def _shape(change: RowChange) -> tuple[Any, ...]:
    """Changes that can share one statement: same table, op, replay and columns."""
    return (change.database, change.table, change.op, change.replay, tuple(change.row or ()))


class _Run:
    """Consecutive changes of one shape, applied with as few statements as their conflicts allow."""

    def __init__(self, cursor: Any, literals: RowLiterals, changes: list[RowChange], key: tuple[str, ...],
                 conflicts: Conflicts, counts: ConflictCounts):
        self.cursor = cursor
        self.literals = literals
        self.changes = changes
        self.key = key
        self.conflicts = conflicts
        self.counts = counts
        first = changes[0]
        self.database, self.table, self.op, self.replay = first.database, first.table, first.op, first.replay
        self.target = qualified(self.database, self.table)

    def apply(self) -> None:
        if self.op == "delete":
            self._deletes()
        elif self.replay:
            self._replayed_writes()
        elif self.op == "insert":
            self._inserts()
        else:
            for change in self.changes:
                self._update(change)

    # -- replay: may already be reflected by the full copy ----------------------------
    def _replayed_writes(self) -> None:
        moved = [change for change in self.changes if self.op == "update" and self._moves_key(change)]
        if moved:  # a key change must remove the old row first, in order
            for change in self.changes:
                if self._moves_key(change):
                    self.cursor.execute(self._delete_sql([change.key]))
                self._upsert([change])
            return
        self._upsert(self.changes)

    def _deletes(self) -> None:
        """One `DELETE ... IN` per 500 keys; under a conflict policy, when fewer rows than keys went,
        the batch is rolled back to a savepoint and replayed row by row to find, name and count
        the rows that were already gone."""
        for batch in _batches(self.changes, 500):
            keys = [change.key for change in batch]
            if self.replay:
                self.cursor.execute(self._delete_sql(keys))
                continue
            if len(batch) > 1:
                self.cursor.execute("SAVEPOINT dtsctl_run")
                if self.cursor.execute(self._delete_sql(keys)) == len(batch):
                    continue
                self.cursor.execute("ROLLBACK TO SAVEPOINT dtsctl_run")
            for change in batch:
                if self.cursor.execute(self._delete_sql([change.key])) == 0:
                    self.conflicts.row(change, self.counts)  # nothing to resolve: the row is already gone

    # -- under a conflict policy -----------------------------------------------------
    def _inserts(self) -> None:
        self.cursor.execute("SAVEPOINT dtsctl_run")
        rows = [self._row(change) for change in self.changes]
        try:
            for batch in _statement_batches(rows, pymysql.cursors.Cursor.max_stmt_length):
                self.cursor.execute(self._insert_sql(",".join(batch)))
            return
        except pymysql.err.IntegrityError as exc:
            if error_code(exc) != ER_DUP_ENTRY:
                raise
            self.cursor.execute("ROLLBACK TO SAVEPOINT dtsctl_run")
        for change, row in zip(self.changes, rows):  # find the rows that exist, one by one
            try:
                self.cursor.execute(self._insert_sql(row))
            except pymysql.err.IntegrityError as exc:
                if error_code(exc) != ER_DUP_ENTRY:
                    raise
                if self.conflicts.row(change, self.counts):
                    self._upsert([change])

    def _update(self, change: RowChange) -> None:
        if self._moves_key(change):
            found = self.cursor.execute(self._delete_sql([change.key]))
            if found:
                self._upsert([change])
                return
        else:
            assert change.row is not None
            literal = self.literals.literal
            assignments = ", ".join(f"{quote(name)} = {literal(value)}" for name, value in change.row.items())
            where = " AND ".join(f"{quote(name)} <=> {literal(value)}" for name, value in change.key.items())
            if self.cursor.execute(f"UPDATE {self.target} SET {assignments} WHERE {where}"):
                return
        if self.conflicts.row(change, self.counts):
            self._upsert([change])

    # -- statements -----------------------------------------------------------------
    def _moves_key(self, change: RowChange) -> bool:
        assert change.row is not None
        return any(change.row.get(name) != value for name, value in change.key.items())

    def _row(self, change: RowChange) -> str:
        """The new row's literal, `(v1,v2,...)`."""
        assert change.row is not None
        return self.literals.row(change.row.values())

    def _upsert(self, changes: Sequence[RowChange]) -> None:
        columns = tuple(changes[0].row or ())
        rows = [self._row(change) for change in changes]
        for batch in _statement_batches(rows, pymysql.cursors.Cursor.max_stmt_length):
            self.cursor.execute(_upsert_sql(self.database, self.table, columns, self.key, ",".join(batch)))

    def _insert_sql(self, values: str) -> str:
        columns = tuple(self.changes[0].row or ())
        return f"INSERT INTO {self.target} ({', '.join(map(quote, columns))}) VALUES {values}"

    def _delete_sql(self, keys: Sequence[Row]) -> str:
        names = list(keys[0])
        literal, row = self.literals.literal, self.literals.row
        if len(names) == 1:
            [name] = names
            return f"DELETE FROM {self.target} WHERE {quote(name)} IN ({','.join(literal(key[name]) for key in keys)})"
        return (f"DELETE FROM {self.target} WHERE ({', '.join(map(quote, names))}) IN "
                f"({','.join(row(key[name] for name in names) for key in keys)})")


def _keep_existing_sql(database: str, table: str, columns: tuple[str, ...], key: Sequence[str], values: str) -> str:
    """An insert of the row literals `values` that leaves an existing row alone (INSERT IGNORE
    would also hide value errors)."""
    first = quote(key[0])
    return (f"INSERT INTO {qualified(database, table)} ({', '.join(map(quote, columns))}) "
            f"VALUES {values} ON DUPLICATE KEY UPDATE {first} = {first}")


def _upsert_sql(database: str, table: str, columns: tuple[str, ...], key: Sequence[str], values: str) -> str:
    others = [name for name in columns if name not in key] or list(key[:1])
    updates = ", ".join(f"{quote(name)} = VALUES({quote(name)})" for name in others)
    return (f"INSERT INTO {qualified(database, table)} ({', '.join(map(quote, columns))}) "
            f"VALUES {values} ON DUPLICATE KEY UPDATE {updates}")


def _statement_batches(rows: Sequence[str], max_chars: int) -> Iterator[Sequence[str]]:
    """Consecutive runs of row literals of about `max_chars` in all (one row at least), so that
    no statement outgrows what pymysql's executemany would send (`max_stmt_length`)."""
    start, size = 0, 0
    for index, literal in enumerate(rows):
        if size and size + len(literal) > max_chars:
            yield rows[start:index]
            start, size = index, 0
        size += len(literal) + 1
    if start < len(rows):
        yield rows[start:]


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
