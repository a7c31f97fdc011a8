"""`dtsctl node run` processes for the cluster tests, and what the tests ask of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.cli import processes_mentioning


class NodeProcess:
    """One `dtsctl node run` with its own data directory (its own "host")."""

    def __init__(self, root: Path, name: str, endpoints: list[str], prefix: str, slots: int = 2,
                 env: dict[str, str] | None = None, wrap: list[str] | None = None) -> None:
        self.name, self.root = name, root / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.args = [*(wrap or []), sys.executable, "-m", "dtsctl", "-C", str(self.root), "node", "run",
                     "--name", name, "--slots", str(slots), "--endpoints", ",".join(endpoints), "--prefix", prefix]
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("DTSCTL_")}, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "node.log"

    def start(self) -> "NodeProcess":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=log, env=self.env, start_new_session=True)
        return self

    def agent_pids(self) -> list[int]:
        """The agents this node started (their command lines name its data directory)."""
        return [pid for pid in processes_mentioning(str(self.root / ".dtsctl-node"))
                if self.process is None or pid != self.process.pid]

    def signal_all(self, signum: int) -> None:
        """Send `signum` to the node and to every agent it runs (a whole host freezing or dying)."""
        assert self.process is not None
        for pid in [self.process.pid, *self.agent_pids()]:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        self.signal_all(signal.SIGCONT)
        self.signal_all(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


def owner_of(status: dict[str, Any]) -> str | None:
    return status.get("node")
