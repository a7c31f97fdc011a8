"""Commands that do not read the declaration or touch a database start without drivers, templating, diffing or pydantic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ["pymysql", "pymysqlreplication", "redis", "pymongo", "jinja2", "deepdiff", "pydantic"]

PROBE = """
import json, sys
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
from dtsctl.cli.main import main
sys.argv = ["dtsctl", *args]
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"exit": code, "loaded": [name for name in watched if name in sys.modules]}), file=sys.stderr)
"""


def modules_loaded(args: list[str], cwd: Path) -> dict:
    """Runs `dtsctl ARGS` in a fresh interpreter; its exit code and which of HEAVY it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["status", "--json"], ["status"]])
def test_start_up_imports_no_driver_templating_or_diffing(args: list[str], tmp_path: Path) -> None:
    assert modules_loaded(args, tmp_path) == {"exit": 0, "loaded": []}

