"""The HA manager: one process per workspace that restarts crashed agents.

It restarts an agent that died while its task should run (a crash or a
SIGKILL), with exponential backoff. It leaves alone agents that stopped on
purpose (paused, stopped by dtsctl or by an operator's SIGTERM: the plan then
reports drift), completed migrations, and failed tasks. A task whose agent
keeps dying for longer than its `retry.other_minutes` window is marked failed.
It exits by itself when the workspace has no task left that should run. While it
runs it serves the workspace's Prometheus metrics when `workspace.metrics` is declared,
and posts the alert events of tasks that declare `alerts` to their webhooks. It starts
each run of a scheduled migration at its time (runtime/runs.py), and the verification a
task declares when it is due (runtime/verify_runs.py).

Run as `python -m dtsctl.runtime.supervisor <runtime dir>`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dtsctl.errors import DtsError
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.agent_control import AGENT_MODULE, START_HANDSHAKE_SECONDS, Agent, list_agents
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.alerts import AlertTracker
from dtsctl.runtime.metrics_server import MetricsEndpoint
from dtsctl.runtime.webhook import WebhookSender
from dtsctl.runtime.process import is_running, read_pid, spawn_detached
from dtsctl.runtime.runs import RunBook
from dtsctl.runtime.verify_runs import VERIFY_MODULE, VerifyBook

SUPERVISOR_MODULE = "dtsctl.runtime.supervisor"
POLL_SECONDS = 0.5
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # an agent alive this long has recovered: its failure window resets

log = logging.getLogger("dtsctl.supervisor")


class Supervisor:
    def __init__(self, runtime: RuntimePaths) -> None:
        self.runtime = runtime
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.metrics = MetricsEndpoint(runtime)
        self.alerts: dict[str, AlertTracker] = {}
        self.webhooks = WebhookSender()

    def run(self) -> None:
        self.webhooks.start()
        try:
            while not self.stopping:
                wanted = self.tick()
                self._reap()
                if not wanted:
                    log.info("no task left to supervise; exiting")
                    return
                self.metrics.follow()
                time.sleep(POLL_SECONDS)
        finally:
            self.metrics.close()
            self.webhooks.stop()

    def tick(self) -> bool:
        """One pass over the tasks; returns whether any task still needs supervision."""
        wanted = False
        for agent in list_agents(self.runtime):
            if agent.desired in ("running", "paused"):
                wanted = True
            try:
                if agent.desired == "running" and agent.config().get("attributes", {}).get("schedule"):
                    self._run_schedule(agent, time.time())
                elif agent.desired == "running":
                    self._watch(agent, time.time())
                self._alert(agent, time.time())
                self._verify(agent, time.time())
            except Exception:  # one broken task directory must not stop the others' supervision
                log.exception("%s: could not supervise", agent.address)
        return wanted

    def _run_schedule(self, agent: Agent, now: float) -> None:
        """A scheduled migration: close the run that ended, restart one that crashed, start (or skip)
        the run that is due. Runs never overlap."""
        book = RunBook(agent.paths, agent.config()["attributes"]["schedule"])
        if book.current is not None and not agent.pid:
            status = read_json(agent.paths.status, {}) or {}
            record = read_json(agent.paths.supervisor, {}) or {}
            ended = "failed" if record.get("failed") else status.get("state")
            if ended in ("completed", "failed", "stopped"):
                rows = sum(table.get("rows_copied", 0) for table in (status.get("tables") or {}).values())
                book.finish(ended, rows, status.get("last_error") or record.get("reason"), now)
                log.info("%s: the run scheduled at %s %s (%d rows)", agent.address,
                         book.data["history"][-1]["window_end"], ended, rows)
            else:
                self._watch(agent, now)  # it crashed mid-run: restarted with backoff, resuming the run
        if now < book.next_run_at(now):
            return
        if book.current is not None:
            log.warning("%s: %s", agent.address, book.skip(now))
            return
        run = book.start(now)
        log.info("%s: starting the run for %s to %s", agent.address, run["window_start"], run["window_end"])
        agent.start()

    def _verify(self, agent: Agent, now: float) -> None:
        """Start the verification the task declares when one is due (runtime/verify_runs.py)."""
        config = agent.config()
        declared = config.get("attributes", {}).get("verify")
        if not declared:
            return
        book = VerifyBook(agent.paths, config["task_id"], declared)
        view = agent.view()
        trigger = book.due(now, view.reached("incremental"))
        if trigger is not None:
            log.info("%s: verifying (%s)", agent.address, trigger)
            process = spawn_detached(VERIFY_MODULE, agent.paths.root, agent.paths.root / "verify.log", agent.paths.root)
            self.children.append(process)
            book.started(trigger, process.pid, now)

    def _alert(self, agent: Agent, now: float) -> None:
        """Post the task's alert events (when it declares `alerts`) without waiting for the posts."""
        alerts = agent.config().get("attributes", {}).get("alerts")
        tracker = self.alerts.get(agent.address)
        if not alerts:
            self.alerts.pop(agent.address, None)
            return
        if tracker is None or tracker.alerts != alerts:
            tracker = self.alerts[agent.address] = AlertTracker(agent.address, alerts)
        for event in tracker.observe(agent.view(), now):
            log.warning("%s", event["message"])
            self.webhooks.send(alerts["webhook"], event)

    def _watch(self, agent: Agent, now: float) -> None:
        status = read_json(agent.paths.status, {}) or {}
        record = read_json(agent.paths.supervisor, {}) or {}
        if record.get("failed") or status.get("state") in ("completed", "failed", "stopped"):
            return
        if agent.pid:
            started = record.get("started_at") or now
            if record.get("first_failure_at") and now - started >= HEALTHY_AFTER_SECONDS:
                record.update(first_failure_at=None, restarts=0)
                write_json_atomic(agent.paths.supervisor, record)
            return
        if not record.get("restarts") and now - record.get("started_at", 0) < START_HANDSHAKE_SECONDS:
            return  # `dtsctl apply` is starting it: the agent writes its pid once it holds its lock
        first_failure = record.get("first_failure_at") or now
        window = float(agent.config().get("attributes", {}).get("retry", {}).get("other_minutes", 10)) * 60
        if now - first_failure > window:
            reason = f"agent kept failing for more than {window / 60:g} minutes (retry.other_minutes); see `dtsctl logs {agent.address}`"
            record.update(failed=True, reason=reason, failed_at=now)
            write_json_atomic(agent.paths.supervisor, record)
            log.error("%s: %s", agent.address, reason)
            return
        if now < record.get("next_start_at", 0):
            if not record.get("first_failure_at"):
                record["first_failure_at"] = first_failure
                write_json_atomic(agent.paths.supervisor, record)
            return
        restarts = int(record.get("restarts", 0))
        backoff = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**restarts)
        log.warning("%s: agent is not running; restarting it (restart %d)", agent.address, restarts + 1)
        # The agent writes agent.pid itself once it holds agent.lock: writing the spawned pid here
        # would hide a live agent whenever this one is a duplicate that exits at once.
        process = spawn_detached(AGENT_MODULE, agent.paths.root, agent.paths.log, cwd=agent.paths.root)
        self.children.append(process)
        record.update(
            restarts=restarts + 1,
            first_failure_at=first_failure,
            started_at=now,
            next_start_at=now + backoff,
        )
        write_json_atomic(agent.paths.supervisor, record)

    def _reap(self) -> None:
        self.children = [child for child in self.children if child.poll() is None]


def supervisor_pid(runtime: RuntimePaths) -> int | None:
    pid = read_pid(runtime.supervisor_pid)
    return pid if is_running(pid, SUPERVISOR_MODULE) else None


def ensure_supervisor(runtime: RuntimePaths, timeout: float = 10.0) -> int:
    """Start the workspace's supervisor unless one is already running; returns its pid.

    Only a supervisor holding the lock writes supervisor.pid, so waiting for the file to name a
    live supervisor also covers a concurrent start: the loser exits and the winner is returned.
    """
    pid = supervisor_pid(runtime)
    if pid:
        return pid
    process = spawn_detached(SUPERVISOR_MODULE, runtime.root, runtime.supervisor_log, cwd=runtime.root)
    deadline = time.monotonic() + timeout
    while not (pid := supervisor_pid(runtime)):
        if time.monotonic() > deadline or (process.poll() is not None and not supervisor_pid(runtime)):
            raise DtsError(f"the supervisor did not start; see {runtime.supervisor_log}")
        time.sleep(0.02)
    return pid


def main(argv: list[str]) -> int:
    runtime = RuntimePaths(Path(argv[0]).resolve())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    lock = open(runtime.supervisor_lock, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another supervisor watches this workspace
    runtime.supervisor_pid.write_text(f"{os.getpid()}\n")
    supervisor = Supervisor(runtime)

    def stop(_signum: int, _frame: object) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("supervising %s", runtime.root)
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
