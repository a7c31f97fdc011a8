"""Origin tags: how the two directions of a two-way pair recognise each other's writes.

Every transaction an applier of a two-way pair writes carries its task's tag, in
the same destination transaction (MySQL: the `origin` column of its checkpoint
row; Redis: a marker key set inside the MULTI/EXEC). The reader of the opposite
direction drops whole transactions carrying that tag, and nothing else, so a
change goes A -> B once and never comes back, while a one-way task reading B
(a cascade or a fan-out hanging off one side) still sees every change on B.

A tag names a task by its address within its workspace, so each direction can
compute its peer's tag before the peer exists; the workspace path keeps two
workspaces that use the same addresses against the same servers apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TWO_WAY_DIRECTIONS = ("forward", "reverse")


@dataclass(frozen=True)
class PairTags:
    own: str  # written with every transaction this task applies
    peer: str  # transactions carrying it are dropped by this task's reader


def tag_for(workspace: str, address: str) -> str:
    return hashlib.sha256(f"{workspace}\0{address}".encode()).hexdigest()[:16]


def pair_tags(attributes: dict[str, Any]) -> PairTags | None:
    """The tags of a task that is one direction of a two-way topology; None for any other task.

    A two-way topology expands into exactly `forward` and `reverse`, and each names the
    other as `peer`, so a task's own address is its peer's with the direction swapped.
    """
    topology = attributes.get("topology") or {}
    peer = topology.get("peer")
    if topology.get("type") != "two-way" or not peer:
        return None
    prefix, _, peer_direction = peer.rpartition(".")
    own_direction = TWO_WAY_DIRECTIONS[1 - TWO_WAY_DIRECTIONS.index(peer_direction)]
    workspace = str(attributes.get("workspace") or "")
    return PairTags(own=tag_for(workspace, f"{prefix}.{own_direction}"), peer=tag_for(workspace, peer))


def peer_changelog(changelog: Path, peer: str | None) -> Path | None:
    """The change log of a two-way direction's peer (its address `peer`, None for any other task):
    the sibling task directory named like this task's own, with the direction swapped."""
    if not peer:
        return None
    own_dir = changelog.parent
    return own_dir.parent / (own_dir.name.rpartition(".")[0] + "." + peer.rpartition(".")[2]) / changelog.name
