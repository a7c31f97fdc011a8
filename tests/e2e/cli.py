"""Drive the real `dtsctl` CLI in a subprocess against a workspace folder."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dtsctl.runtime.process import is_running, read_pid


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / ".dtsctl"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DTS_VAR_", "DTSCTL_"))}
        full_env.update(env or {})
        result = subprocess.run([sys.executable, "-m", "dtsctl", "-C", str(self.root), *args],
                                capture_output=True, text=True, env=full_env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"dtsctl {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def status(self, address: str) -> dict[str, Any]:
        import json

        tasks = json.loads(self.run("status", "--json").stdout)["tasks"]
        return next(task for task in tasks if task["address"] == address)

    def agent_pid(self, address: str) -> int | None:
        task_dir = self.runtime / "tasks" / address
        pid = read_pid(task_dir / "agent.pid")
        return pid if is_running(pid, str(task_dir)) else None

    def supervisor_pid(self) -> int | None:
        pid = read_pid(self.runtime / "supervisor.pid")
        return pid if is_running(pid, "dtsctl.runtime.supervisor") else None

    def kill_everything(self) -> None:
        """Teardown: no agent or supervisor of this workspace survives the test, including an
        agent the supervisor spawned a moment ago that has not written its pid file yet."""
        supervisor = self.supervisor_pid()
        if supervisor is not None:
            _kill(supervisor)  # first, so that it cannot start agents again
        for pid in processes_mentioning(str(self.runtime)):
            _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def processes_mentioning(text: str) -> list[int]:
    """Pids of processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def changelog_last_seq(workspace: Workspace, address: str) -> int:
    """The highest sequence number a task's own change log ever assigned."""
    with sqlite3.connect(workspace.runtime / "tasks" / address / "changelog.db") as connection:
        found = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return found[0] if found else 0


def kill_agent(workspace: Workspace, address: str) -> None:
    """kill -9 the task's agent and wait until the supervisor has started a new one."""
    pid = workspace.agent_pid(address)
    assert pid is not None, f"{address} has no running agent"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (workspace.agent_pid(address) or pid) != pid, timeout=60, what=f"{address} restarted")


def reading_agent(workspace: Workspace, topology: str) -> int | None:
    """The pid of the agent that reads the source for a one-to-many topology: the agent whose
    reader process holds the flock on its shared change log's reader.lock (from /proc/locks), or None."""
    lock = workspace.runtime / "shared" / topology / "reader.lock"
    try:
        inode = lock.stat().st_ino
    except FileNotFoundError:
        return None
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" not in fields and fields[1] == "FLOCK" and int(fields[5].rsplit(":", 1)[1]) == inode:
            return _agent_of(int(fields[4]))
    return None


def _agent_of(reader: int) -> int | None:
    """The agent that forked the reader process `reader` (None once it is gone)."""
    try:
        return int(Path(f"/proc/{reader}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def kill_in_turn(workspace: Workspace, *addresses: str, every: float = 10) -> None:
    """Under a running load: after `every` seconds kill -9 each task's agent in turn (waiting
    for its restart), then let the load run `every` seconds more."""
    for address in addresses:
        time.sleep(every)
        kill_agent(workspace, address)
    time.sleep(every)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def rows(db: Path, table: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def execute(db: Path, *statements: str) -> None:
    connection = sqlite3.connect(db, timeout=30)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def same_rows(source: Path, replica: Path, table: str) -> bool:
    """Whether the table holds the same rows on both sides; False while the replica lacks it."""
    try:
        return rows(source, table) == rows(replica, table)
    except sqlite3.OperationalError:
        return False
