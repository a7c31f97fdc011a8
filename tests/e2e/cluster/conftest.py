"""Fixtures of the cluster runtime's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster.nodes import NodeProcess


@pytest.fixture
def nodes() -> Iterator[list[NodeProcess]]:
    """The test's node processes; every one (and its agents) is killed afterwards, whatever happened."""
    made: list[NodeProcess] = []
    yield made
    for node in made:
        node.kill()
