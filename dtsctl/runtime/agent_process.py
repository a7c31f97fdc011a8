"""The agent process: runs one task until it completes, fails or is asked to stop.

    python -m dtsctl.runtime.agent_process [--held] <task dir>

The agent's main process applies; it forks the task's reader process
(dtsctl.engine.reader), which never holds the agent's lock and dies with it.
It holds `agent.lock` for its whole life (a second agent exits 0 at once), writes
`status.json` at least every second, and exits 0 when stopped or completed,
EXIT_FATAL (3) on an error retrying cannot fix, 1 on a crash (the supervisor
restarts it; it resumes from its checkpoints).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Iterable, TextIO

from dtsctl import registry
from dtsctl.engine.errors import ConnectionFailure, FatalError
from dtsctl.engine.pipeline import Outcome, Runner
from dtsctl.engine.progress import Progress
from dtsctl.engine.retry import RetryWindow
from dtsctl.engine.worker import Worker
from dtsctl.errors import DtsError
from dtsctl.jsonfile import read_json, write_json_atomic
from dtsctl.runtime.layout import AGENT_HELD, AGENT_RELEASE, EXIT_FATAL, TaskPaths, shared_changelog
from dtsctl.secret_keys import ALWAYS_SENSITIVE_KEYS
from dtsctl.runtime.lifecycle import pipeline_for
from dtsctl.schedule import with_run_window

log = logging.getLogger("dtsctl.agent")

STATUS_EVERY_SECONDS = 0.5
GC_THRESHOLD = 50_000  # container allocations net of frees between young-generation collections
REDACTED = "(sensitive value)"


class RedactSecrets(logging.Filter):
    """Replaces every secret value in a record's final text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        if record.exc_info:
            message += "\n" + self.redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        record.msg, record.args, record.exc_text = message, None, None
        return True


def secrets_in(value: Any, sensitive_paths: Iterable[Iterable[Any]] = ()) -> list[str]:
    """Every value of a field named `password`, and every value at a sensitive path."""
    found: list[str] = [str(item) for item in _at_paths(value, sensitive_paths) if item not in (None, "")]
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ALWAYS_SENSITIVE_KEYS and isinstance(item, str):
                found.append(item)
            else:
                found.extend(secrets_in(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(secrets_in(item))
    return found


def _at_paths(value: Any, paths: Iterable[Iterable[Any]]) -> list[Any]:
    """The values found at each path; a path that no longer leads anywhere is skipped."""
    found = []
    for path in paths:
        node = value
        try:
            for step in path:
                node = node[step]
        except (KeyError, IndexError, TypeError):
            continue
        found.extend(secrets_in(node) + [node] if isinstance(node, (dict, list)) else [node])
    return found


def configure_logging(redactor: RedactSecrets, stream: TextIO = sys.stderr) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class StatusWriter(Worker):
    """Writes status.json every STATUS_EVERY_SECONDS and on every phase or state change."""

    def __init__(self, path: Path, progress: Progress, redactor: RedactSecrets) -> None:
        super().__init__("status")
        self.path = path
        self.progress = progress
        self.redactor = redactor

    def write(self) -> None:
        status = self.progress.snapshot()
        if status["last_error"]:
            status["last_error"] = self.redactor.redact(status["last_error"])
        write_json_atomic(self.path, status)

    def run(self) -> None:
        while not self._halt.is_set():
            self.write()
            self.progress.wait_for_change(STATUS_EVERY_SECONDS)

    def stop(self) -> None:
        super().stop()
        self.join(timeout=5)
        self.write()


def run_task(runner: Runner, progress: Progress, stop: threading.Event, window: RetryWindow) -> Outcome:
    """Run the task, resuming from checkpoints after connection failures within the retry window."""
    while True:
        try:
            return runner.run()
        except ConnectionFailure as exc:
            delay = window.failed()
            if delay is None:
                raise FatalError(f"{exc} (still failing after {window.seconds / 60:g} minutes of retries)") from exc
            progress.set_error(str(exc))
            log.warning("%s; retrying in %.1fs", exc, delay)
            if stop.wait(delay):
                return Outcome.STOPPED


def main(argv: list[str]) -> int:
    if argv[:1] == [AGENT_HELD]:
        argv = argv[1:]
        import_connectors(TaskPaths(Path(argv[-1])))
        if sys.stdin.buffer.read(len(AGENT_RELEASE)) != AGENT_RELEASE:
            return 0  # its starter went on without it (a failed precheck) or died
    if len(argv) != 1:
        print(f"usage: python -m dtsctl.runtime.agent_process [{AGENT_HELD}] <task dir>", file=sys.stderr)
        return 2
    paths = TaskPaths(Path(argv[0]))
    lock = open(paths.lock, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another agent runs this task
    # The reader process the agent forks must not keep the task locked after the agent died.
    os.register_at_fork(after_in_child=lock.close)
    paths.pid.write_text(f"{os.getpid()}\n")
    # A stop records why before it looks for the agent's pid (agent_control.Agent.stop), so an agent
    # started just before a stop and missed by it reads the stop here, and leaves the task alone.
    if (read_json(paths.control, None) or {}).get("desired", "running") != "running":
        return 0

    config = read_json(paths.config)
    redactor = RedactSecrets(secrets_in(config["attributes"], config.get("sensitive_paths", ())))
    configure_logging(redactor)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    attributes, declared = config["attributes"], config.get("declared")
    if attributes.get("schedule"):
        run = read_json(paths.run, None)
        if run is None:
            log.info("a scheduled migration runs when the supervisor starts a run; nothing to do")
            return 0
        # this run's window in its filters; "run" starts the copy over when it is a new run
        attributes = {**with_run_window(attributes, run["window"]), "run": run["id"]}
        declared = None  # the window changes its filters: read the declaration from these attributes
    try:
        pipeline = pipeline_for(attributes, config["task_id"], declared)
        progress = pipeline.progress()
    except BaseException as exc:  # bad attributes: reported like a failed run
        pipeline, progress, failed = None, Progress(), exc
    status = StatusWriter(paths.status, progress, redactor)
    status.start()
    if pipeline is None:
        return _finish(status, failed)
    log.info("agent %d starting %s (task %s)", os.getpid(), config["address"], config["task_id"])
    tune_garbage_collection()
    window = RetryWindow(pipeline.spec.connection_minutes)
    try:
        changelog = paths.changelog
        if pipeline.spec.shares_log:
            changelog = shared_changelog(paths.root.parent.parent, config["address"])
            changelog.parent.mkdir(parents=True, exist_ok=True)
        runner = pipeline.runner(changelog, progress, stop, on_commit=window.succeeded)
        outcome = run_task(runner, progress, stop, window)
    except BaseException as exc:
        return _finish(status, exc)
    return _finish(status, outcome)


def import_connectors(paths: TaskPaths) -> None:
    """Import the connectors of the endpoints the task's recorded configuration names, while the
    agent is held: a resume keeps its engines, so the 30 ms this takes is off its way. Only a
    head start: a configuration that names no known engine is reported once the agent runs."""
    attributes = (read_json(paths.config, None) or {}).get("attributes", {})
    for key in ("source_endpoint", "destination_endpoint"):
        with contextlib.suppress(Exception):
            engine = registry.engine(attributes[key]["engine"])
            registry.connector(engine.name, engine.pipeline)


def tune_garbage_collection() -> None:
    """The agent allocates a few objects for each change and frees nearly all of them again: at the
    default threshold (700 more allocations than frees) the cycle collector ran 900 times while the
    reader read 100,000 transactions, 8.5% of its CPU (bench/mysql_reader_bench.py); at 50,000 it
    did not run at all. What is alive now (modules, configuration) leaves its view for good, which
    also keeps those pages shared with the forked reader process."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _finish(status: StatusWriter, how: Outcome | BaseException) -> int:
    """Record how the run ended in the status, and the agent's exit code for it."""
    progress = status.progress
    code = 0
    if isinstance(how, DtsError):  # FatalError, and bad attributes that no restart can fix
        log.error("%s", how)
        progress.set_state("failed", str(how))
        code = EXIT_FATAL
    elif isinstance(how, BaseException):
        log.error("agent crashed; it resumes from its checkpoint when restarted", exc_info=how)
        progress.set_error(f"{type(how).__name__}: {how}")
        code = 1
    elif how is Outcome.COMPLETED:
        progress.set_state("completed")
        log.info("task completed")
    else:
        progress.set_state("stopped")
        log.info("stopped on request")
    status.stop()
    return code

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
