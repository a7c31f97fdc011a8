"""The two-way example workspaces validate offline, with their variables' defaults."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", ["two-way-mysql", "redis-dr"])
def test_example_declaration_validates(tmp_path: Path, example: str) -> None:
    workspace = tmp_path / example
    shutil.copytree(EXAMPLES / example, workspace)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTS_VAR_", "DTSCTL_"))}
    result = subprocess.run([sys.executable, "-m", "dtsctl", "-C", str(workspace), "validate"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "(2 task(s))" in result.stdout
