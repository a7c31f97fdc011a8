"""Where the runtime keeps things under a workspace's `.dtsctl/` directory.

    .dtsctl/
      .gitignore                 "*": nothing here is ever committed
      supervisor.pid  supervisor.lock  supervisor.log
      workspace.json             the workspace's settings (metrics address), written by apply
      tasks/<task dir>/          one per task address ("task.orders_sync" -> "task.orders_sync")
        config.json   (0600)     {"address", "task_id", "attributes"}: what the agent runs; holds credentials
        control.json             {"desired": "running" | "paused" | "stopped"}: written by the CLI
        agent.lock               flock held by the live agent for its whole life (liveness without pid races)
        agent.pid                the agent's pid (informational; the lock is the truth)
        agent.log                the agent's log (secrets redacted)
        status.json              written by the agent: see STATUS_KEYS
        supervisor.json          written by the supervisor: restarts, first failure time, failed reason
        runs.json  run.json      a scheduled migration's runs, and the one the agent carries out (runtime/runs.py)
        changelog.db             the durable local change log (SQLite, WAL)
        verify.json  verify.log  the task's declared verification and its last result (runtime/verify_runs.py)
      shared/<topology>/         one per one-to-many topology: its destinations read the source once
        changelog.db             the change log every destination's agent applies from
        reader.lock              flock held by the one agent that reads the source for all of them

The agent is started as `python -m dtsctl.runtime.agent_process <task dir>` in its own session.
Agent exit codes: 0 stopped on request or completed, 3 fatal (do not restart), anything else: crashed (restart).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dtsctl.engine.task import shares_change_log

RUNTIME_ENV = "DTSCTL_RUNTIME_DIR"
EXIT_FATAL = 3
# An agent started with AGENT_HELD has imported its code and waits, before it touches its task,
# until AGENT_RELEASE arrives on its standard input (agent_control.Agent.starting); the end of
# its input instead makes it exit.
AGENT_HELD = "--held"
AGENT_RELEASE = b"go"

# Keys of status.json (a superset of `dtsctl status --json`, contract section 5).
STATUS_KEYS = (
    "state",  # running | paused | failed | stopped | completed  (as the agent sees itself)
    "phase",  # precheck | schema | full | incremental | done
    "lag_seconds",
    "rows_copied",
    "events_applied",
    "events_read",  # change events read from the source since the agent started
    "last_error",
    "checkpoint",  # human-readable source position the agent resumes from
    "tables",  # {"db.table": {"rows_copied": n, "rows_estimated": n, "done": bool}}
    "conflicts",  # {"insert": n, "update": n, "delete": n}
    "reader",  # {"pid": n, "position": "...", "events_per_second": x}: the reader process, last 10 s
    "applier",  # {"position": "...", "events_per_second": x}: the applier, last 10 s
    "updated_at",  # unix time of this write
)


def runtime_dir(workspace: Path) -> Path:
    override = os.environ.get(RUNTIME_ENV)
    return Path(override).resolve() if override else (workspace / ".dtsctl").resolve()


def task_dir_name(address: str) -> str:
    """A directory name for a task address; addresses are already dotted identifiers."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", address)


class TaskPaths:
    """The files of one task's directory (`RuntimePaths.task`), as the CLI and its agent name them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = self.root / "config.json"
        self.control = self.root / "control.json"
        self.lock = self.root / "agent.lock"
        self.pid = self.root / "agent.pid"
        self.log = self.root / "agent.log"
        self.status = self.root / "status.json"
        self.supervisor = self.root / "supervisor.json"
        self.runs = self.root / "runs.json"
        self.run = self.root / "run.json"
        self.changelog = self.root / "changelog.db"


def shared_changelog(runtime: Path, address: str) -> Path:
    """The change log a task of a one-to-many topology shares with the topology's other tasks."""
    topology = address.rsplit(".task.", 1)[0]
    return runtime / "shared" / task_dir_name(topology) / "changelog.db"


class RuntimePaths:
    def __init__(self, runtime: Path) -> None:
        self.root = runtime
        self.tasks = runtime / "tasks"
        self.supervisor_pid = runtime / "supervisor.pid"
        self.supervisor_lock = runtime / "supervisor.lock"
        self.supervisor_log = runtime / "supervisor.log"
        self.settings = runtime / "workspace.json"

    def task(self, address: str) -> TaskPaths:
        return TaskPaths(self.tasks / task_dir_name(address))

    def changelog(self, address: str, attributes: dict[str, Any]) -> Path:
        """Where a task's change log is: its own, or its one-to-many topology's."""
        if shares_change_log(attributes):
            return shared_changelog(self.root, address)
        return self.task(address).changelog
