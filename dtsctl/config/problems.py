"""Collecting declaration problems as `file:line: message` lines.

The config layer reports every problem it finds, not just the first, so each
step records into one `Problems` and carries on with what it can still check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dtsctl.errors import ValidationFailed


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


@dataclass(frozen=True)
class Location:
    """A place in a declaration file (line is 1-based)."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}"


class Problems:
    """An ordered, duplicate-free list of problems."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: Location, message: str) -> None:
        text = f"{where}: {message}"
        if text not in self.items:
            self.items.append(text)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))
