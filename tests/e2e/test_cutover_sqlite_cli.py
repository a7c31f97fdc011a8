"""A SQLite cutover through the CLI (issue 16): the freeze refuses the application's writes to the
selected tables by triggers while dtsctl's reader keeps draining the capture table, every committed
row reaches the destination, and no freeze trigger is left after the unfreeze or destroy; a
verification that fails in the freeze stops the cutover and unfreezes the source."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace, execute, rows, wait_for
from tests.e2e.test_cutover_cli import declaration

pytestmark = pytest.mark.e2e

CUTOVER = "cutover: {freeze_source: true, unfreeze_source: true, max_lag: 5}"


def sqlite_declaration(cutover: str = "") -> str:
    return declaration("{engine: sqlite, path: ./shop.db}", "{engine: sqlite, path: ./replica.db}",
                       "[{database: main, all: true}]", cutover)


def dtsctl_objects(db: Path, like: str = "%dtsctl%") -> list[str]:
    with sqlite3.connect(db) as connection:
        return [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE name LIKE ?", (like,))]


class AppWriter(threading.Thread):
    """The application: inserts rows until the freeze refuses one, then switches to the new primary
    (stops), as an application in a switch-over would."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.committed = 0
        self.refusal = ""

    def run(self) -> None:
        connection = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        while not self.stop.is_set():
            try:
                connection.execute("INSERT INTO items (label) VALUES ('app')")
                self.committed += 1
            except sqlite3.IntegrityError as exc:
                self.refusal = str(exc)
                break
            self.stop.wait(0.005)
        connection.close()


def streaming(workspace: Workspace) -> tuple[Path, Path]:
    source, replica = workspace.root / "shop.db", workspace.root / "replica.db"
    execute(source, "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT)",
            *(f"INSERT INTO items (label) VALUES ('row {i}')" for i in range(200)))
    workspace.write("main.dts.yaml", sqlite_declaration())
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.move", "--phase", "incremental", "--timeout", "60")
    return source, replica


def test_sqlite_cutover_refuses_writes_by_triggers_drains_and_leaves_no_trigger(workspace: Workspace) -> None:
    source, replica = streaming(workspace)
    app = AppWriter(source)
    app.start()
    try:
        wait_for(lambda: app.committed > 200, timeout=30, what="the application's writes")
        workspace.write("main.dts.yaml", sqlite_declaration(CUTOVER))
        assert "freeze writes on old: BEFORE INSERT/UPDATE/DELETE triggers" in workspace.run("plan").stdout
        applied = workspace.run("apply", "--auto-approve", timeout=120).stdout
    finally:
        app.stop.set()
        app.join()
    assert "frozen by dtsctl cutover of" in app.refusal and "write to the new primary" in app.refusal
    assert "task.move: freeze writes on the source (" in applied and "write downtime (freeze to completed)" in applied
    assert "the source was unfrozen (as declared (unfreeze_source))" in applied
    assert workspace.status("task.move")["state"] == "completed"
    assert rows(replica, "items") == rows(source, "items"), "a write committed before the freeze is missing"
    assert len(rows(source, "items")) > 400
    assert dtsctl_objects(source, "%dtsctl-freeze%") == []
    execute(source, "INSERT INTO items (label) VALUES ('after the cutover')")  # the old source takes writes again
    workspace.run("destroy", "--auto-approve")
    assert dtsctl_objects(source) == [] and dtsctl_objects(replica) == []


def test_a_sqlite_cutover_whose_verify_fails_in_the_freeze_unfreezes_the_source(workspace: Workspace) -> None:
    source, replica = streaming(workspace)
    # the destination turns the in-flight write below into a difference once the applier writes it
    execute(replica, "CREATE TRIGGER corrupt AFTER UPDATE ON items WHEN NEW.label = 'in flight' "
                     "BEGIN UPDATE items SET label = 'corrupted' WHERE id = NEW.id; END")
    workspace.write("main.dts.yaml", sqlite_declaration(CUTOVER))
    cutover = subprocess.Popen([sys.executable, "-m", "dtsctl", "-C", str(workspace.root), "apply", "--auto-approve"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = ""
    assert cutover.stdout is not None
    while "verify everything before the freeze (replication running) (" not in out:
        line = cutover.stdout.readline()
        assert line, out
        out += line
    in_flight = sqlite3.connect(source, timeout=30, isolation_level=None)
    in_flight.execute("BEGIN IMMEDIATE")  # a write in flight: the freeze waits for it to commit
    in_flight.execute("UPDATE items SET label = 'in flight' WHERE id = 5")
    time.sleep(3)  # the narrowing verifies (nothing changes) end, the freeze waits for the write lock
    in_flight.execute("COMMIT")
    in_flight.close()
    rest, err = cutover.communicate(timeout=120)
    out += rest
    assert cutover.returncode == 1, out + err
    assert "verify found differences after the drain (" in out and "1 different" in out, out
    assert "the source was unfrozen (the cutover stopped; the task keeps running and nothing was lost)" in out
    assert dtsctl_objects(source, "%dtsctl-freeze%") == []
    assert workspace.status("task.move")["state"] == "running"
    execute(source, "INSERT INTO items (label) VALUES ('after the failed cutover')")
    wait_for(lambda: len(rows(replica, "items")) == len(rows(source, "items")), timeout=30,
             what="the task to go on replicating")
