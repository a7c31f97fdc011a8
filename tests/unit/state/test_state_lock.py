"""The state lock, contended by real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtsctl.errors import DtsError
from dtsctl.state import StateFile

# Holds the lock on argv[1] until stdin closes (or argv[2] seconds pass), then releases it.
HOLDER = """
import sys, time, select
from pathlib import Path
from dtsctl.state import StateFile
with StateFile(Path(sys.argv[1])).lock("apply") as info:
    print(info.id, flush=True)
    select.select([sys.stdin], [], [], float(sys.argv[2]))
"""


def hold_lock(path: Path, seconds: float = 30.0) -> tuple[subprocess.Popen, str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    lock_id = holder.stdout.readline().strip()
    assert lock_id, "the holder process did not take the lock"
    return holder, lock_id


@pytest.fixture
def state_file(tmp_path):
    return StateFile(tmp_path / "dtsctl.state.json")


def test_lock_file_names_holder_and_is_removed_after(state_file):
    with state_file.lock("plan") as info:
        data = json.loads(state_file.lock_path.read_text())
        assert data == {"id": info.id, "operation": "plan", "who": info.who, "created": info.created}
        assert info.who.endswith(f"pid {__import__('os').getpid()}")
    assert not state_file.lock_path.exists()


def test_lock_is_released_when_the_block_raises(state_file):
    with pytest.raises(RuntimeError):
        with state_file.lock("apply"):
            raise RuntimeError("boom")
    assert not state_file.lock_path.exists()


def test_second_process_is_refused_at_once_naming_the_holder(state_file):
    holder, lock_id = hold_lock(state_file.path)
    try:
        started = time.monotonic()
        with pytest.raises(DtsError) as refused:
            with state_file.lock("plan"):
                pass
        assert time.monotonic() - started < 0.5
        message = str(refused.value)
        assert message.startswith("state is locked by ")
        assert f"pid {holder.pid} for apply since " in message
        assert f"(lock {lock_id}); wait, or run `dtsctl force-unlock {lock_id}` if that process is gone" in message
    finally:
        holder.communicate("")
    assert holder.returncode == 0


def test_lock_timeout_waits_for_the_holder_to_finish(state_file):
    holder, _ = hold_lock(state_file.path, seconds=0.3)
    try:
        with state_file.lock("apply", timeout=10) as info:
            assert json.loads(state_file.lock_path.read_text())["id"] == info.id
    finally:
        holder.communicate("")


def test_lock_timeout_gives_up_after_waiting(state_file):
    holder, _ = hold_lock(state_file.path)
    try:
        started = time.monotonic()
        with pytest.raises(DtsError, match="state is locked by"):
            with state_file.lock("apply", timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    finally:
        holder.communicate("")


def test_lock_of_a_dead_holder_is_still_reported(state_file):
    holder, lock_id = hold_lock(state_file.path)
    holder.kill()
    holder.wait()
    with pytest.raises(DtsError, match=lock_id):
        with state_file.lock("apply"):
            pass


def test_force_unlock_removes_the_lock(state_file):
    holder, lock_id = hold_lock(state_file.path)
    holder.kill()
    holder.wait()
    state_file.force_unlock(lock_id)
    with state_file.lock("apply"):
        assert state_file.lock_path.exists()


def test_force_unlock_with_wrong_id_is_refused(state_file):
    with state_file.lock("apply") as info:
        with pytest.raises(DtsError, match=f"does not match the current lock {info.id}"):
            state_file.force_unlock("not-the-id")
        assert state_file.lock_path.exists()


def test_force_unlock_without_a_lock_is_an_error(state_file):
    with pytest.raises(DtsError, match="not locked"):
        state_file.force_unlock("anything")


def test_release_leaves_a_lock_taken_over_by_someone_else(state_file):
    with state_file.lock("apply") as info:
        state_file.force_unlock(info.id)
        with state_file.lock("plan") as second:
            pass
        with state_file.lock("plan") as third:
            pass
    assert not state_file.lock_path.exists()
    assert len({info.id, second.id, third.id}) == 3


def test_unreadable_lock_file_is_not_treated_as_free(state_file):
    state_file.lock_path.write_text("garbage")
    with pytest.raises(DtsError, match="unreadable"):
        with state_file.lock("apply"):
            pass
