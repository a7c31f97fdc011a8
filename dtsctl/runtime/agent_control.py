"""One task's agent on this machine: its files, start, stop, and what it is doing now."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from dtsctl.engine.throttle import limits_at
from dtsctl.errors import DtsError
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.layout import AGENT_HELD, AGENT_RELEASE, RuntimePaths, TaskPaths
from dtsctl.runtime.process import is_running, read_pid, spawn_detached, stop_process
from dtsctl.runtime.runs import RunBook
from dtsctl.runtime.verify_runs import last_result

AGENT_MODULE = "dtsctl.runtime.agent_process"
GRACEFUL_STOP_SECONDS = 30.0
COMPLETE_GRACE_SECONDS = 1.0
START_HANDSHAKE_SECONDS = 10.0  # how long start waits for the agent to hold its lock
Desired = Literal["running", "paused", "stopped"]
ENGINE_DETAILS = ("full_resyncs", "full_resync_reason", "heartbeat_writable", "expired_on_destination")
PHASE_ORDER = ("precheck", "schema", "full", "incremental", "done")


@dataclass
class TaskView:
    """What a task is doing now, merged from the agent's, the supervisor's and the CLI's files."""

    address: str
    state: str  # running | paused | failed | stopped | completed
    phase: str | None
    pid: int | None
    status: dict[str, Any]
    last_error: str | None
    restarts: int = 0  # by the supervisor, since the agent last ran well for a while
    schedule: dict[str, Any] | None = None  # a scheduled migration's runs (RunBook.summary)
    throttle: dict[str, Any] | None = None  # the limits in force now (engine.throttle.limits_at)
    node: str | None = None  # cluster runtime: the node that owns the task, and its host
    host: str | None = None
    verification: dict[str, Any] | None = None  # the last declared verification's result (runtime/verify_runs.py)

    def reached(self, phase: str) -> bool:
        """At `phase` or past it; a completed migration is past every phase."""
        if self.state == "completed":
            return True
        return self.phase in PHASE_ORDER and PHASE_ORDER.index(self.phase) >= PHASE_ORDER.index(phase)

    def as_contract(self) -> dict[str, Any]:
        """The keys of `dtsctl status --json` (contract, section 5), plus engine details."""
        status = self.status
        return {
            "address": self.address,
            "state": self.state,
            "phase": self.phase,
            "lag_seconds": status.get("lag_seconds"),
            "rows_copied": status.get("rows_copied", 0),
            "events_applied": status.get("events_applied", 0),
            "events_read": status.get("events_read", 0),
            "restarts": self.restarts,
            "pid": self.pid,
            "last_error": self.last_error,
            "checkpoint": status.get("checkpoint"),
            # the reader's and the applier's own positions and rates (engine.progress)
            "reader": status.get("reader"),
            "applier": status.get("applier"),
            "conflicts": status.get("conflicts", {"insert": 0, "update": 0, "delete": 0}),
            "tables": status.get("tables", {}),
            # engine details, only from engines that report them (Redis: full resyncs, writable heartbeat,
            # keys that expired on the destination before the source's writes reached them)
            **{key: status[key] for key in ENGINE_DETAILS if key in status},
            "throttle": self.throttle,
            **({"schedule": self.schedule} if self.schedule else {}),
            **({"node": self.node, "host": self.host} if self.node else {}),
            **({"verify": self.verification} if self.verification else {}),
        }


class Agent:
    """Files and process of the agent that runs one task."""

    def __init__(self, runtime: RuntimePaths, address: str) -> None:
        self.address = address
        self.runtime = runtime
        self.paths: TaskPaths = runtime.task(address)
        self._held: subprocess.Popen[bytes] | None = None  # an agent `starting` holds for `start`

    @property
    def exists(self) -> bool:
        return self.paths.config.exists()

    @property
    def pid(self) -> int | None:
        pid = read_pid(self.paths.pid)
        return pid if is_running(pid, str(self.paths.root)) else None

    @property
    def desired(self) -> Desired:
        return (read_json(self.paths.control, {}) or {}).get("desired", "stopped")

    def config(self) -> dict[str, Any]:
        return read_json(self.paths.config, {}) or {}

    def write_config(self, task_id: str, attributes: dict[str, Any], sensitive_paths: Iterable[Sequence[Any]]) -> None:
        """config.json holds credentials the agent needs to restart by itself: owner-only.

        The sensitive paths travel along so the agent can keep those values out of its log, and
        the attributes' declaration (lifecycle.declaration) so it can start without the model that
        reads it; attributes the model refuses are reported by the agent when it runs.
        """
        from dtsctl.runtime.lifecycle import declaration  # the model: only where a configuration is written

        self.paths.root.mkdir(parents=True, exist_ok=True)
        document = {"address": self.address, "task_id": task_id, "attributes": attributes,
                    "sensitive_paths": sorted(list(path) for path in sensitive_paths)}
        with contextlib.suppress(DtsError):
            document["declared"] = declaration(attributes)
        write_json_atomic(self.paths.config, document, mode=0o600)

    def set_desired(self, desired: Desired) -> None:
        write_json_atomic(self.paths.control, {"desired": desired, "changed_at": time.time()})

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Start a new agent's interpreter now, held before it touches the task, so that its
        start-up (about 0.15 s: the interpreter and its imports) runs while `apply` prechecks and
        stops the old agent; `start` within the block lets it go on. Unused, it exits at the end."""
        self._held = spawn_detached(AGENT_MODULE, self.paths.root, self.paths.log, cwd=self.paths.root,
                                    options=(AGENT_HELD,), stdin_pipe=True) if self.exists else None
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held is not None:
                assert held.stdin is not None
                held.stdin.close()  # the end of its input: it exits without the task
                held.wait()

    def start(self) -> int:
        """Start the agent now, clearing any failure so the supervisor watches it again."""
        self.set_desired("running")
        status = read_json(self.paths.status, {}) or {}
        status.update(state="running", last_error=None)
        write_json_atomic(self.paths.status, status)
        write_json_atomic(self.paths.supervisor, {"restarts": 0, "started_at": time.time()})
        process = self._release_held() or spawn_detached(AGENT_MODULE, self.paths.root, self.paths.log,
                                                         cwd=self.paths.root)
        # The agent writes agent.pid itself once it holds agent.lock. Writing the spawned pid
        # here raced with it: a duplicate started by the supervisor (which exits at once because
        # the lock is held) could leave its dead pid in the file, hiding the live agent.
        deadline = time.monotonic() + START_HANDSHAKE_SECONDS
        while process.poll() is None and read_pid(self.paths.pid) != process.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        return process.pid

    def _release_held(self) -> subprocess.Popen[bytes] | None:
        """The agent `starting` holds, let go; None when there is none or it died meanwhile."""
        held, self._held = self._held, None
        if held is None:
            return None
        try:
            assert held.stdin is not None
            held.stdin.write(AGENT_RELEASE)
            held.stdin.close()
        except BrokenPipeError:  # killed while held
            held.wait()
            return None
        return held

    def stop(self, desired: Desired) -> None:
        """Record why the agent stops (so the supervisor leaves it alone), then stop it gracefully."""
        self.set_desired(desired)
        pid = self.pid
        if pid:
            stop_process(pid, str(self.paths.root), GRACEFUL_STOP_SECONDS)

    def complete(self) -> None:
        """Stop the agent for good and record the task as completed (a cutover switched away from it).
        Everything is applied by then, so the agent gets only a short grace: on a frozen source its
        heartbeat write may wait for the freeze, and the write downtime lasts until this returns."""
        self.set_desired("stopped")
        pid = self.pid
        if pid:
            stop_process(pid, str(self.paths.root), COMPLETE_GRACE_SECONDS)
        status = read_json(self.paths.status, {}) or {}
        status.update(state="completed", phase="done", last_error=None, updated_at=time.time())
        write_json_atomic(self.paths.status, status)

    def remove(self) -> None:
        shutil.rmtree(self.paths.root, ignore_errors=True)

    def leave_shared_log(self, task_id: str, attributes: dict[str, Any]) -> None:
        """A destroyed destination of a one-to-many topology stops holding back the shared change
        log; the last one to go removes it."""
        path = self.runtime.changelog(self.address, attributes)
        if path == self.paths.changelog or not path.exists():
            return
        from dtsctl.engine.changelog import ChangeLog  # not for every command that lists agents

        changelog = ChangeLog(path)
        try:
            remaining = changelog.leave(task_id)
        finally:
            changelog.close()
        if remaining == 0:
            shutil.rmtree(path.parent, ignore_errors=True)

    def view(self) -> TaskView:
        status = read_json(self.paths.status, {}) or {}
        supervisor = read_json(self.paths.supervisor, {}) or {}
        pid = self.pid
        desired = self.desired
        agent_state = status.get("state")
        last_error = status.get("last_error")
        attributes = self.config().get("attributes", {})
        schedule = attributes.get("schedule")
        if desired == "paused":
            state = "paused"
        elif agent_state == "completed":
            state = "completed"
        elif agent_state == "failed" or supervisor.get("failed"):
            state = "failed"
            last_error = last_error or supervisor.get("reason")
        elif pid:
            state = "running"
        elif schedule:
            state = "scheduled"  # waiting for its next run
        else:
            state = "stopped"
        summary = RunBook(self.paths, schedule).summary(time.time()) if schedule else None
        return TaskView(self.address, state, status.get("phase"), pid, status, last_error,
                        int(supervisor.get("restarts", 0)), summary,
                        limits_at(attributes["throttle"], time.time()) if attributes.get("throttle") else None,
                        verification=last_result(self.paths))


def list_agents(runtime: RuntimePaths) -> list[Agent]:
    """Every task directory under the runtime, by the address recorded in its config."""
    if not runtime.tasks.is_dir():
        return []
    agents = []
    for task_dir in sorted(runtime.tasks.iterdir()):
        config = read_json(task_dir / "config.json", None)
        if config and "address" in config:
            agents.append(Agent(runtime, config["address"]))
    return agents
