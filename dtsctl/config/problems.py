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
    """A duplicate-free list of problems in file order (by file, then line; as found within a line)."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, int]] = {}  # text -> (file, line), in the order found

    def add(self, where: Location, message: str) -> None:
        self._found.setdefault(f"{where}: {message}", (display_path(where.file), where.line))

    @property
    def items(self) -> list[str]:
        return sorted(self._found, key=self._found.__getitem__)

    def __len__(self) -> int:
        return len(self._found)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))
