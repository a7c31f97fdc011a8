"""Sensitive values: find them, hash them for the state, hide them for display.

A sensitive value is stored only as a salted, stretched hash: enough to notice
that a password changed, useless for reading it back. PBKDF2 rather than a bare
SHA-256 so that a weak password cannot be brute-forced cheaply from a state file
or a saved plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from dtsctl.secret_keys import ALWAYS_SENSITIVE_KEYS  # any attribute with such a key is sensitive

# The same shape as dtsctl.config.resources.AttributePath; the state layer does not import config.
AttributePath = tuple[str | int, ...]

SENSITIVE_DISPLAY = "(sensitive value)"  # how every output shows a secret
HASH_SCHEME = "pbkdf2-sha256"
HASH_ITERATIONS = 10_000



def canonical_json(value: Any) -> str:
    """One byte-stable JSON text per value: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def plain_json(value: Any) -> Any:
    """`value` as JSON would give it back (tuples become lists, keys become strings)."""
    return json.loads(canonical_json(value))


def hash_secret(value: Any, salt: str) -> str:
    """A salted PBKDF2 digest of `value`, as `pbkdf2-sha256:<hex>`."""
    digest = hashlib.pbkdf2_hmac(
        "sha256", canonical_json(value).encode("utf-8"), salt.encode("utf-8"), HASH_ITERATIONS
    )
    return f"{HASH_SCHEME}:{digest.hex()}"


def lookup(tree: Any, path: AttributePath) -> tuple[bool, Any]:
    """(True, value) at `path`, or (False, None) when any step is missing."""
    node = tree
    for step in path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False, None
    return True, node


def get_at(tree: Any, path: AttributePath) -> Any:
    """The value at `path`, or None when any step is missing."""
    return lookup(tree, path)[1]


def replace_at_paths(tree: dict[str, Any], paths: Iterable[AttributePath], replace: Callable[[Any], Any]) -> dict[str, Any]:
    """`plain_json(tree)` with each present, non-null value at `paths` replaced by `replace(value)`."""
    result = plain_json(tree)
    for path in paths:
        if not path:
            continue
        parent = get_at(result, tuple(path[:-1]))
        last = path[-1]
        if isinstance(parent, dict) and last in parent and parent[last] is not None:
            parent[last] = replace(parent[last])
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent) and parent[last] is not None:
            parent[last] = replace(parent[last])
    return result


def password_paths(tree: Any, prefix: AttributePath = ()) -> list[AttributePath]:
    """Paths of every non-null value under a key named `password` (or another always-sensitive key)."""
    found: list[AttributePath] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key in ALWAYS_SENSITIVE_KEYS and value is not None:
                found.append((*prefix, key))
            else:
                found.extend(password_paths(value, (*prefix, key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.extend(password_paths(value, (*prefix, index)))
    return found


def effective_sensitive_paths(attributes: dict[str, Any], declared: Iterable[Iterable[str | int]]) -> list[AttributePath]:
    """The declared sensitive paths plus every `password` field, sorted and without duplicates."""
    paths = {tuple(p) for p in declared} | set(password_paths(attributes))
    return sorted(paths, key=lambda p: [str(step) for step in p])


def record_attributes(attributes: dict[str, Any], sensitive_paths: Iterable[Iterable[str | int]], salt: str) -> dict[str, Any]:
    """`attributes` as the state records them: plain JSON, each sensitive value as {"sensitive": hash}."""
    paths = effective_sensitive_paths(attributes, sensitive_paths)
    return replace_at_paths(attributes, paths, lambda value: {"sensitive": hash_secret(value, salt)})


def is_under(path: AttributePath, prefix: AttributePath) -> bool:
    """True when `path` equals `prefix` or lies below it."""
    return tuple(path[: len(prefix)]) == tuple(prefix)
