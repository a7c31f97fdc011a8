"""Fixtures for declaration tests: workspaces written into tmp_path, loaded without the real environment."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dtsctl.config import Workspace, load_workspace
from dtsctl.errors import ValidationFailed


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """write({"main.dts.yaml": "..."}) creates the files (dedented) and returns the workspace root (the cwd)."""
    monkeypatch.chdir(tmp_path)

    def write_files(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return write_files


@pytest.fixture
def load() -> Callable[..., Workspace]:
    def load_it(root: Path, **kwargs: Any) -> Workspace:
        kwargs.setdefault("environ", {})
        return load_workspace(root, **kwargs)

    return load_it


@pytest.fixture
def problems() -> Callable[..., list[str]]:
    """problems(root, ...) -> the ValidationFailed problem lines."""

    def problems_of(root: Path, **kwargs: Any) -> list[str]:
        kwargs.setdefault("environ", {})
        with pytest.raises(ValidationFailed) as caught:
            load_workspace(root, **kwargs)
        return caught.value.problems

    return problems_of


SQLITE_PAIR = """
endpoints:
  a: {engine: sqlite, path: ./a.db}
  b: {engine: sqlite, path: ./b.db}
"""
