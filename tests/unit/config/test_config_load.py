"""Loading a workspace pauses the cycle collector (its cost grows faster than the workspace) and always resumes it."""

from __future__ import annotations

import gc

import pytest

from dtsctl.errors import ValidationFailed

SQLITE_TASK = """
endpoints:
  a: {engine: sqlite, path: ./a.db}
  b: {engine: sqlite, path: ./b.db}
tasks:
  copy: {type: migration, source: a, destination: b, objects: [{database: main, all: true}]}
"""


def test_the_collector_is_paused_while_loading_and_resumed_after(write, load, monkeypatch) -> None:
    import dtsctl.config.workspace as workspace

    seen = []
    real = workspace.write_conflicts

    def spy(resources):
        seen.append(gc.isenabled())
        return real(resources)

    monkeypatch.setattr(workspace, "write_conflicts", spy)
    load(write({"main.dts.yaml": SQLITE_TASK}))
    assert seen == [False]
    assert gc.isenabled()


def test_the_collector_is_resumed_after_a_failed_load(write, load) -> None:
    with pytest.raises(ValidationFailed):
        load(write({"main.dts.yaml": "tasks:\n  copy: [unclosed\n"}))
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused(write, load) -> None:
    gc.disable()
    try:
        load(write({"main.dts.yaml": SQLITE_TASK}))
        assert not gc.isenabled()
    finally:
        gc.enable()
