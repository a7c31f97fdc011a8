"""The agent's cycle-collector settings (dtsctl.runtime.agent_process.tune_garbage_collection)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from dtsctl.runtime.agent_process import GC_THRESHOLD, tune_garbage_collection
before = gc.get_threshold()
tune_garbage_collection()
print(gc.get_threshold() == (GC_THRESHOLD, *before[1:]), gc.get_freeze_count() > 0, GC_THRESHOLD >= 50_000)
"""


def test_young_collections_are_rare_and_start_up_objects_are_frozen():
    """In its own interpreter: the settings are process-wide, as the agent's are."""
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "True"], result.stdout + result.stderr

