"""Per-table full-copy progress, as text lines and as a bar for terminals."""

from __future__ import annotations

from typing import Any

BAR_WIDTH = 30


def fraction(table: dict[str, Any]) -> float:
    if table.get("done"):
        return 1.0
    estimated = table.get("rows_estimated") or 0
    return min(table.get("rows_copied", 0) / estimated, 0.99) if estimated else 0.0


def table_lines(tables: dict[str, dict[str, Any]]) -> list[str]:
    """One line per table: name, bar, rows copied of the estimate."""
    width = max((len(name) for name in tables), default=0)
    lines = []
    for name, table in sorted(tables.items()):
        done = fraction(table)
        bar = "#" * round(done * BAR_WIDTH)
        copied, estimated = table.get("rows_copied", 0), table.get("rows_estimated")
        of = "copied" if table.get("done") else f"of ~{estimated}" if estimated else "copied so far"
        lines.append(f"  {name.ljust(width)}  [{bar.ljust(BAR_WIDTH)}] {done:4.0%}  {copied} rows {of}")
    return lines


class LiveLines:
    """Redraws a block of lines in place on a terminal (cursor up, clear line)."""

    def __init__(self) -> None:
        self._drawn = 0

    def show(self, lines: list[str]) -> None:
        out = "".join("\x1b[1A\x1b[2K" for _ in range(self._drawn)) + "".join(f"{line}\n" for line in lines)
        print(out, end="", flush=True)
        self._drawn = len(lines)
