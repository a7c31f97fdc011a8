"""examples/cache-invalidation runs end to end: MariaDB -> subscription -> SDK consumer -> Redis cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "cache-invalidation" / "run.py"


@pytest.mark.e2e
def test_cache_invalidation_example_keeps_the_cache_equal_to_the_table() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "cache matches the table: 15 orders" in result.stdout
    assert "Destroy complete!" in result.stdout
