from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from dtsctl.engine.changelog import INSERT_SIZES, ChangeLog, stream_started_for
from dtsctl.engine.events import ChangeEvent, Transaction
from dtsctl.engine.keyspace.interfaces import SNAPSHOT_BEGIN_PREFIX, Record


def _tx(position: int, commit_time: float = 100.0) -> Transaction:
    event = ChangeEvent("main", "orders", "insert", None, {"id": position, "b": b"\x00"}, commit_time, position)
    return Transaction((event,), position, commit_time)


def test_a_new_log_is_in_wal_mode_and_reopening_it_does_not_import_sqlite_utils(tmp_path):
    """A resuming agent opens the log its earlier run made: the 50 ms import is not on its way."""
    path = tmp_path / "changelog.db"
    ChangeLog(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopen = ("import sys; from dtsctl.engine.changelog import ChangeLog; "
              f"ChangeLog({str(path)!r}).close(); print('sqlite_utils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", reopen], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_append_then_read_from_a_sequence_number_in_order(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1), _tx(2), _tx(3)], 3)
    assert [seq for seq, _ in log.read(0, 10)] == [1, 2, 3]
    [(seq, tx)] = log.read(2, 10)
    assert seq == 3 and tx == _tx(3)
    assert log.reader_position() == (True, 3)


def test_an_append_larger_than_one_statement_keeps_every_transaction_in_order(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 30)  # statements of 8 rows and of 1
    log.append([_tx(position) for position in range(1, 21)], 20)
    assert [(seq, tx) for seq, tx in log.read(0, 30)] == [(position, _tx(position)) for position in range(1, 21)]
    assert log.reader_position() == (True, 20)


class _RecordingConnection:
    """A connection that remembers the text of every statement it is asked to execute."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.statements: set[str] = set()
        self.calls: list[str] = []  # every execute and executemany, in order

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        self.statements.add(sql)
        self.calls.append(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        self.calls.append(sql)
        return self._conn.executemany(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_appends_of_every_batch_size_use_a_few_insert_statements(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    recording = log.conn = _RecordingConnection(log.conn)
    position = 0
    for size in range(1, 80):  # each a new batch size
        log.append([_tx(position + offset) for offset in range(1, size + 1)], position + size)
        position += size
    inserts = {sql for sql in recording.statements if sql.startswith("INSERT INTO changes")}
    assert 1 < len(inserts) <= len(INSERT_SIZES)  # the sqlite3 module caches each distinct statement
    assert [seq for seq, _ in log.read(0, position)] == list(range(1, position + 1))


def test_a_streaming_reader_s_append_is_four_statements(tmp_path):
    """Each statement lets go of the interpreter lock, which the reader's busy binlog thread then
    holds for up to a switch interval: an append writes its rows, the reader position and the newest
    commit time in one transaction of few statements, and a native context only the first time."""
    context = b"\x0f" * 250
    log = ChangeLog(tmp_path / "changelog.db")
    recording = log.conn = _RecordingConnection(log.conn)

    def append(first: int) -> list[str]:
        recording.calls.clear()
        batch = [_tx(position) for position in range(first, first + 8)]  # one INSERT_SIZES statement
        log.append([Transaction(tx.events, tx.position, tx.commit_time, native=(context, (b"x",))) for tx in batch],
                   first + 7)
        return [sql.split(" (")[0] for sql in recording.calls]

    assert sum("native_context" in sql or "INSERT OR IGNORE" in sql for sql in append(1)) == 1
    assert append(9) == ["BEGIN IMMEDIATE", "INSERT INTO changes", "INSERT INTO meta", "COMMIT"]
    assert log.reader_position() == (True, 16) and log.newest_commit_time() == 100.0 == log.newest_appended()
    assert [seq for seq, _ in log.read(0, 100)] == list(range(1, 17))
    assert log.bind("task-b") is True  # emptied: the context is stored again with the next append
    append(17)
    other = ChangeLog(tmp_path / "changelog.db")
    assert [tx.native for _, tx in other.read(0, 100)] == [(context, (b"x",))] * 8


def test_append_commits_position_with_rows_or_neither(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1)], 1)
    broken = Transaction((), position=object(), commit_time=1.0)  # position cannot be stored
    with pytest.raises(TypeError):
        log.append([_tx(2)], broken.position)
    assert [seq for seq, _ in log.read(0, 10)] == [1]
    assert log.reader_position() == (True, 1)


def test_trim_drops_only_what_is_past_and_never_reuses_sequence_numbers(tmp_path):
    path = tmp_path / "changelog.db"
    log = ChangeLog(path)
    log.append([_tx(1), _tx(2), _tx(3)], 3)
    assert log.trim(2) == 2
    log.append([_tx(4)], 4)
    reopened = ChangeLog(path)
    assert [seq for seq, _ in reopened.read(0, 10)] == [3, 4]
    assert reopened.last_seq() == 4


def test_newest_commit_time_tracks_the_latest_append(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    assert log.newest_commit_time() is None
    log.append([_tx(1, 50.0), _tx(2, 70.0)], 2)
    assert log.newest_commit_time() == 70.0


def test_bind_to_another_task_empties_the_log(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    assert log.bind("task-a") is True
    log.append([_tx(1)], 1)
    assert log.bind("task-a") is False and log.count() == 1
    assert log.bind("task-b") is True
    assert log.count() == 0 and log.reader_position() == (False, None)


def test_a_shared_log_is_trimmed_to_its_slowest_consumer_and_the_first_fixes_the_start(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    assert log.join("b", start=lambda: 7) == 0
    assert log.join("c", start=lambda: 99) == 0
    assert log.reader_position() == (True, 7), "only the first consumer fixes the reader's start"
    log.append([_tx(1), _tx(2), _tx(3)], 3)  # commit_time 100: long past the join grace
    log.release("b", 3)
    assert log.count() == 3, "c has applied nothing yet"
    log.release("c", 2)
    assert [seq for seq, _ in log.read(0, 10)] == [3]
    assert log.join("late") == 3 and log.joined("late")
    assert log.leave("c") == 2 and not log.joined("c")


def test_recent_changes_stay_for_a_destination_that_joins_soon_after(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.join("b")
    log.append([_tx(1, commit_time=time.time())], 1)
    log.release("b", 1)
    assert log.count() == 1


def _copy_begin(offset: int) -> Record:
    return Record(SNAPSHOT_BEGIN_PREFIX + b"}", {"offset": offset}, time.time(), ())


def test_a_destination_joins_where_the_latest_copy_begins(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([Record(b"x", {"offset": 1}, time.time(), ()), _copy_begin(2),
                Record(b"y", {"offset": 3}, time.time(), ())], {"offset": 3})
    assert log.join_at_latest_copy("late", SNAPSHOT_BEGIN_PREFIX) == 1, "it applies the copy and what follows"
    assert not log.resync_requested()


def test_a_destination_that_joins_before_the_reader_starts_waits_for_its_first_copy(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    assert log.join_at_latest_copy("early", SNAPSHOT_BEGIN_PREFIX) == 0
    assert not log.resync_requested()


def test_a_destination_that_joins_a_streaming_log_without_a_copy_asks_for_one_once(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([Record(b"x", {"offset": 1}, time.time(), ())], {"offset": 1})
    assert log.join_at_latest_copy("late", SNAPSHOT_BEGIN_PREFIX) == 1
    assert log.resync_requested()
    assert log.take_resync_request() and not log.take_resync_request()
    assert log.reader_position() == (False, None), "the reader starts over, with a copy"


def test_a_reader_appending_its_first_copy_cannot_slip_between_a_destinations_look_and_its_join(tmp_path):
    """The reader process appends its first copy just after a joining destination saw no copy and
    no reader position: the destination must still apply that copy, not wait for one forever."""
    path = tmp_path / "changelog.db"
    joining = ChangeLog(path)
    appended = threading.Event()

    def reader_appends_its_first_copy() -> None:
        reader = ChangeLog(path)
        reader.append([_copy_begin(1), Record(b"x", {"offset": 2}, time.time(), ())], {"offset": 2})
        reader.close()
        appended.set()

    looked_at_reader_position = False

    def right_after_the_look(statement: str) -> None:
        nonlocal looked_at_reader_position
        if looked_at_reader_position:
            joining.conn.set_trace_callback(None)
            appender = threading.Thread(target=reader_appends_its_first_copy)
            appender.start()
            appender.join(timeout=1.0)  # blocked while the join's transaction lasts
        looked_at_reader_position = "FROM meta WHERE key" in statement

    joining.conn.set_trace_callback(right_after_the_look)
    applied = joining.join_at_latest_copy("b", SNAPSHOT_BEGIN_PREFIX)
    assert appended.wait(timeout=15)
    copy_seq = [seq for seq, _, _, payload in joining.read_raw(0, 10) if payload.startswith(SNAPSHOT_BEGIN_PREFIX)]
    assert copy_seq == [1]
    assert applied < copy_seq[0] or joining.resync_requested(), "the destination would never see a copy"


def test_a_log_streams_for_its_task_only_once_its_reader_has_a_position(tmp_path):
    path = tmp_path / "changelog.db"
    assert not stream_started_for(path, "task.a") and not path.exists(), "asking creates nothing"
    log = ChangeLog(path)
    log.bind("task.a")
    assert not stream_started_for(path, "task.a")
    log.set_reader_position({"file": "bin.000001", "pos": 4})
    log.close()
    assert stream_started_for(path, "task.a")
    assert not stream_started_for(path, "task.b")


def test_keys_written_by_records_are_remembered_with_their_newest_seq_and_trimmed(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([Record(b"x", {"peer_seen": 4}, 1.0, (b"0:a", b"0:b")),
                Record(b"y", {"peer_seen": 5}, 1.0, (b"0:a",))], {"peer_seen": 7})
    assert log.newest_local_write() == 2
    assert log.local_writes_after(0, [b"0:a", b"0:b", b"0:c"]) == {b"0:a": 2, b"0:b": 1}
    assert log.local_writes_after(1, [b"0:a", b"0:b"]) == {b"0:a": 2}
    assert log.lowest_peer_seen() == 4, "the oldest change still to apply had received the least"
    log.trim(2)
    assert log.lowest_peer_seen() == 7, "with nothing left to apply, the reader's position says"
    log.forget_local_writes(1)
    assert log.local_writes_after(0, [b"0:a", b"0:b"]) == {b"0:a": 2}
    log.reset()
    assert log.newest_local_write() == 0 and log.lowest_peer_seen() == 0


def test_a_hold_keeps_applied_changes_until_let_go_and_verify_reads_exactly_them(tmp_path):
    from dtsctl.engine.verification import VerifyOptions, held_payloads

    path = tmp_path / "changelog.db"
    log = ChangeLog(path)
    log.append([_tx(1), _tx(2)], 2)
    log.hold_after(1)
    log.append([_tx(3)], 3)
    assert log.trim(3) == 1  # seq 1 only: 2 and 3 are held
    assert held_payloads(VerifyOptions(changelog=path, changed_after=1)) == [_tx(2).payload(), _tx(3).payload()]
    log.let_go()
    assert log.trim(3) == 2
    assert held_payloads(VerifyOptions(changelog=path, changed_after=1)) is None  # gone: the keys are unknown


def test_repair_lands_after_what_the_reader_appended_and_keeps_the_reader_position(tmp_path):
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1)], 1)
    seen = []
    seq, record = log.insert_after_reader(lambda at: seen.append(at) or _tx(9))
    log.append([_tx(2)], 2)
    assert (seen, seq, record) == ([1], 2, _tx(9))
    assert [tx.position for _, tx in log.read(0, 10)] == [1, 9, 2] and log.reader_position() == (True, 2)


def test_a_native_encoding_s_context_is_stored_once_and_read_back_in_another_process_s_log(tmp_path):
    """Transactions' native encodings (a MySQL source's row events) share a context (its format
    description): the log stores it once; another `ChangeLog` on the file reads it back."""
    context = b"\x0f" * 250
    native = [Transaction(tx.events, tx.position, tx.commit_time, native=(context, (bytes([n]),)))
              for n, tx in enumerate((_tx(1), _tx(2)))]
    log = ChangeLog(tmp_path / "changelog.db")
    log.append(native, 2)
    log.append([_tx(3)], 3)
    other = ChangeLog(tmp_path / "changelog.db")
    assert [tx.native for _, tx in other.read(0, 10)] == [(context, (b"\x00",)), (context, (b"\x01",)), None]
    assert other.conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'native_context:%'").fetchone() == (1,)
    assert all(len(payload) < len(context) for *_, payload in other.read_raw(0, 10))


def test_positions_round_trip_and_those_written_as_json_by_earlier_versions_are_read(tmp_path):
    position = {"gtid": "0-1-42,1-2-7", "file": "bin.000003", "pos": 1234, "peer_seen": 9, "x": [1.5, None, "é"]}
    log = ChangeLog(tmp_path / "changelog.db")
    log.append([Transaction(_tx(1).events, position, 100.0)], position)
    assert log.read(0, 1)[0][1].position == position and log.reader_position() == (True, position)
    earlier = json.dumps({**position, "pos": 1300})  # json's text, with spaces
    log.conn.execute("INSERT INTO changes (position, commit_time, events) VALUES (?, ?, ?)",
                     (earlier, 101.0, _tx(2).payload()))
    log.conn.execute("UPDATE meta SET value = ? WHERE key = 'reader_position'", (earlier,))
    assert log.read(1, 1)[0][1].position == json.loads(earlier) and log.reader_position() == (True, json.loads(earlier))


def test_an_applier_at_the_end_is_not_placed_past_an_append_made_while_its_position_is_read(tmp_path, monkeypatch):
    """verify waits until the applier passed a source position; an append landing between reading
    the log's end and the reader's position once made an applier at the old end look past the new
    changes, and verify reported their rows missing."""
    log, reader = ChangeLog(tmp_path / "changelog.db"), ChangeLog(tmp_path / "changelog.db")
    log.append([_tx(1)], 1)
    read_end = ChangeLog.last_seq

    def end_then_reader_appends(self: ChangeLog) -> int:
        end = read_end(self)
        if self is log:
            reader.append([_tx(2)], 2)
        return end

    monkeypatch.setattr(ChangeLog, "last_seq", end_then_reader_appends)
    assert log.applied_position(1) == (True, 1)
    monkeypatch.undo()
    assert log.applied_position(1) == (True, 1) and log.applied_position(2) == (True, 2)


def test_a_trim_does_not_write_the_rows_it_deletes_again(tmp_path):
    """Trimming frees pages without zeroing them (Debian's SQLite zeroes deleted rows by default,
    which doubled what a busy log wrote and held the write lock the reader needs meanwhile)."""
    path = tmp_path / "changelog.db"
    log = ChangeLog(path)
    wide = [Transaction((ChangeEvent("main", "orders", "insert", None, {"id": n, "b": bytes(2000)}, 100.0, n),),
                        n, 100.0) for n in range(1, 501)]
    log.append(wide, 500)
    log.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert log.trim(499) == 499
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size < 100_000  # the deleted rows take about 1 MB
    assert [seq for seq, _ in log.read(0, 10)] == [500]
