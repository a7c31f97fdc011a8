"""One task's agent run as a real subprocess, the way `dtsctl apply` and the supervisor run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from dtsctl.runtime import lifecycle
from dtsctl.jsonfile import read_json, write_json_atomic


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class AgentProcess:
    """Mixin for a test's task: needs `dir`, `attributes`, `task_id` and `process` on the instance."""

    dir: Path
    attributes: dict[str, Any]
    task_id: str
    process: subprocess.Popen | None
    precheck_on_apply = False  # run the precheck first, as `dtsctl apply` does

    @property
    def log(self) -> Path:
        return self.dir / "agent.log"

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / "config.json",
                          {"address": "task.t", "task_id": self.task_id, "attributes": self.attributes}, mode=0o600)

    def apply(self) -> None:
        """What `dtsctl apply` does for this task: (precheck,) prepare the source, write config, start."""
        if self.precheck_on_apply:
            failed = [c for c in lifecycle.precheck(self.attributes, self.task_id) if not c.ok and not c.warning]
            assert not failed, failed
        lifecycle.prepare(self.attributes, self.task_id)
        self.write_config()
        self.start()

    def start(self) -> subprocess.Popen:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dtsctl.runtime.agent_process", str(self.dir)],
                                            stdout=log, stderr=log, start_new_session=True)
        return self.process

    def status(self) -> dict[str, Any]:
        return read_json(self.dir / "status.json", {}) or {}

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                    what: str = "status") -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            status = self.status()
            if status and predicate(status):
                return status
            if self.process is not None and self.process.poll() is not None and not predicate(self.status()):
                raise AssertionError(f"agent exited {self.process.returncode} before {what}:\n{self.log.read_text()}")
            return None
        return wait_for(check, timeout, what)

    def wait_incremental(self, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_status(lambda s: s.get("phase") == "incremental", timeout, "incremental phase")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        os.kill(self.process.pid, sig)
        return self.process.wait(timeout=30)

    def stop(self) -> int:
        return self.kill(signal.SIGTERM)

    def kill_all(self) -> int:
        """kill -9 of the agent as a whole: its main process (the applier) and its reader process at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=30)

    def reader_pid(self) -> int:
        """The agent's reader process, once it runs."""
        return wait_for(lambda: (self.status().get("reader") or {}).get("pid"), 30, "a reader process")


def process_ended(pid: int) -> bool:
    """True once `pid` is gone (or a zombie nobody reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True
