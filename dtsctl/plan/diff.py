"""Attribute diffs between a recorded resource and its declaration, with deepdiff.

Both sides are compared in their recorded form: the declaration's secrets are
hashed with the recorded resource's salt, so an unchanged password gives no
diff and a changed one shows up at its path without ever being compared in
clear text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from dtsctl.config.resources import REPLACE_PATHS, AttributePath, DesiredResource
from dtsctl.state.model import RecordedResource
from dtsctl.state.sensitive import (
    SENSITIVE_DISPLAY,
    effective_sensitive_paths,
    get_at,
    lookup,
    is_under,
    record_attributes,
    replace_at_paths,
)


@dataclass(frozen=True)
class AttributeDiff:
    changed: list[AttributePath]  # in deepdiff's order, deduplicated
    forces_replacement: list[AttributePath]  # the subset of `changed` that touches a replace path


def display_desired(desired: DesiredResource) -> dict[str, Any]:
    """Desired attributes as plain JSON with every secret shown as "(sensitive value)"."""
    paths = effective_sensitive_paths(desired.attributes, desired.sensitive_paths)
    return replace_at_paths(desired.attributes, paths, lambda _: SENSITIVE_DISPLAY)


def format_path(path: AttributePath) -> str:
    """`("objects", 0, "tables")` -> `objects[0].tables`."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def diff_attributes(recorded: RecordedResource, desired: DesiredResource) -> AttributeDiff:
    before = recorded.attributes
    after = record_attributes(desired.attributes, desired.sensitive_paths, recorded.salt)
    sensitive = {tuple(p) for p in recorded.sensitive_paths}
    sensitive |= set(effective_sensitive_paths(desired.attributes, desired.sensitive_paths))

    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    changed: list[AttributePath] = []
    for items in tree.values():
        for item in items:
            path = _display_path(tuple(item.path(output_format="list")), before, after, sensitive)
            if path not in changed:
                changed.append(path)

    differing = [rp for rp in REPLACE_PATHS if get_at(before, rp) != get_at(after, rp)]
    forcing = [p for p in changed if any(is_under(p, rp) or is_under(rp, p) for rp in differing)]
    return AttributeDiff(changed=changed, forces_replacement=forcing)


def attribute_changes(diff: AttributeDiff, before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The changed paths with their display-safe old and new values (see ResourceChange)."""
    described = []
    for path in diff.changed:
        had, old = lookup(before, path)
        has, new = lookup(after, path)
        described.append({
            "path": format_path(path),
            "symbol": "~" if had and has else ("+" if has else "-"),
            "before": old,
            "after": new,
            "forces_replacement": path in diff.forces_replacement,
        })
    return described



def _display_path(path: AttributePath, before: Any, after: Any, sensitive: set[AttributePath]) -> AttributePath:
    """The path to show for a raw deepdiff path.

    A change inside a secret's hash is shown at the secret; a change inside a
    list of plain values (`phases`, `tables`) is shown as the whole list, which
    reads better than element-by-element shifts.
    """
    for secret in sensitive:
        if is_under(path, secret):
            return secret
    for index, step in enumerate(path):
        if isinstance(step, int):
            containers = [get_at(before, path[:index]), get_at(after, path[:index])]
            lists = [c for c in containers if isinstance(c, list)]
            if all(not isinstance(v, (dict, list)) for c in lists for v in c):
                return path[:index]
    return path
