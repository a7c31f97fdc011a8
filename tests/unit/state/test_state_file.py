"""The state file: read, serial, backup, atomic writes, secrets never in clear text."""

from __future__ import annotations

import json
import stat

import pytest

from dtsctl.config.resources import DesiredResource
from dtsctl.errors import DtsError
from dtsctl.state import State, StateFile, new_recorded

PASSWORD = "Very-Secret-Pw-42"


def desired(address: str = "task.a", password: str = PASSWORD) -> DesiredResource:
    return DesiredResource(
        address=address,
        type="task",
        name=address.rsplit(".", 1)[-1],
        attributes={"source": "bj", "source_endpoint": {"host": "db1", "password": password}, "status": "running"},
        sensitive_paths=frozenset({("source_endpoint", "password")}),
        depends_on=("task.base",),
    )


@pytest.fixture
def state_file(tmp_path):
    return StateFile(tmp_path / "state" / "dtsctl.state.json")


def test_missing_file_reads_as_empty_state_with_fresh_lineage(state_file):
    first, second = state_file.read(), state_file.read()
    assert (first.serial, first.resources, first.outputs) == (0, [], {})
    assert first.lineage != second.lineage
    assert not state_file.path.exists()


def test_write_bumps_serial_and_round_trips(state_file):
    state = state_file.read()
    state.put(new_recorded(desired(), task_id="t-1"))
    state.outputs = {"region": "bj", "token": {"sensitive": True}}
    state_file.write(state)
    assert state.serial == 1
    again = state_file.read()
    assert (again.lineage, again.serial, again.outputs) == (state.lineage, 1, state.outputs)
    assert again.resources == state.resources
    assert json.loads(state_file.path.read_text())["version"] == 1


def test_write_keeps_previous_file_as_backup(state_file):
    state = state_file.read()
    state_file.write(state)
    first = state_file.path.read_bytes()
    state.put(new_recorded(desired()))
    state_file.write(state)
    assert state_file.backup_path.read_bytes() == first
    assert json.loads(state_file.path.read_text())["serial"] == 2


def test_state_and_backup_are_private(state_file):
    state = state_file.read()
    state_file.write(state)
    state_file.write(state)
    assert stat.S_IMODE(state_file.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_file.backup_path.stat().st_mode) == 0o600


def test_failed_write_leaves_old_file_intact(state_file, monkeypatch):
    state = state_file.read()
    state_file.write(state)
    before = state_file.path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    state.put(new_recorded(desired()))
    with pytest.raises(OSError, match="disk full"):
        state_file.write(state)
    monkeypatch.undo()
    assert state_file.path.read_bytes() == before
    assert state.serial == 1
    assert [p.name for p in state_file.path.parent.iterdir() if p.name.startswith(".")] == []


def test_corrupt_state_names_the_backup(state_file):
    state_file.path.parent.mkdir(parents=True)
    state_file.path.write_text('{"version": 1, "lin')
    with pytest.raises(DtsError, match=r"is not valid JSON .*restore it from .*dtsctl.state.json.backup"):
        state_file.read()


def test_newer_state_version_is_refused(state_file):
    state_file.path.parent.mkdir(parents=True)
    state_file.path.write_text(json.dumps({"version": 9, "lineage": "x", "serial": 1, "resources": []}))
    with pytest.raises(DtsError, match="state version 9"):
        state_file.read()


def test_write_refuses_a_state_of_another_lineage(state_file):
    state_file.write(state_file.read())
    with pytest.raises(DtsError, match="another lineage"):
        state_file.write(State())


def test_write_refuses_a_state_read_before_another_write(state_file):
    state_file.write(state_file.read())
    early, late = state_file.read(), state_file.read()
    state_file.write(late)
    with pytest.raises(DtsError, match="changed while this command ran"):
        state_file.write(early)


def test_password_never_reaches_the_state_file_or_backup(state_file):
    state = state_file.read()
    state.put(new_recorded(desired("task.a")))
    state_file.write(state)
    state.put(new_recorded(desired("task.b", password="Other-Secret-77")))
    state_file.write(state)
    for path in (state_file.path, state_file.backup_path):
        data = path.read_bytes()
        assert PASSWORD.encode() not in data
        assert b"Other-Secret-77" not in data
