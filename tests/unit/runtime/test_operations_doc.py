"""docs/operations.md shows the metrics reference exactly as the code defines it."""

from __future__ import annotations

from pathlib import Path

from dtsctl.runtime.metrics import reference_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def test_the_metrics_reference_in_the_docs_is_the_generated_one() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- metrics-reference:start -->\n", "<!-- metrics-reference:end -->"
    shown = text[text.index(start) + len(start):text.index(end)]
    assert shown == reference_markdown(), "regenerate it: python -m dtsctl.runtime.metrics"
