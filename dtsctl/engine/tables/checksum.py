"""Order-sensitive row checksums that both ends compute the same way (for verify)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Sequence

from dtsctl.engine.events import encode_value


def table_checksum(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """(count, sha256) over rows given in key order, each as values in column-name order."""
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        digest.update(json.dumps([canonical(v) for v in row], separators=(",", ":")).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def canonical(value: Any) -> Any:
    """A column value as JSON, the same whichever end it was read from."""
    # Floats by their exact repr, so 1.0 and 1 (SQLite may store either) stay distinct only when they differ.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return encode_value(value)
