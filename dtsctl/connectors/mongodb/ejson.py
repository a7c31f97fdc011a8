"""Documents as canonical Extended JSON: JSON-safe, and exact for every BSON type (the engine's form)."""

from __future__ import annotations

import json
from typing import Any

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, JSONOptions

_OPTIONS: JSONOptions = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True)


def to_ejson(value: Any) -> Any:
    """A BSON value or document in canonical Extended JSON, as plain JSON data."""
    return json.loads(json_util.dumps(value, json_options=_OPTIONS))


def from_ejson(value: Any) -> Any:
    """The BSON value or document `to_ejson` gave."""
    return json_util.loads(json.dumps(value), json_options=_OPTIONS)
