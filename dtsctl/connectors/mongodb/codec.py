"""The forms MongoDB values take outside the driver, each exact for every BSON type.

- A document travels through the change log *packed*: its BSON bytes as the server sent them,
  base64 in a JSON string. Packing a document read as `RawBSONDocument` copies bytes, and the
  sink hands the unpacked `RawBSONDocument` to the driver as it is: no document is decoded
  and encoded again on its way.
- An `_id` (and a resume token) is canonical Extended JSON: the engine compares and shows it.
- Subscription records show documents as canonical Extended JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import bson
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, JSONOptions
from bson.raw_bson import RawBSONDocument

_OPTIONS: JSONOptions = CANONICAL_JSON_OPTIONS.with_options(tz_aware=True)
CODEC = bson.CodecOptions(tz_aware=True)
RAW_CODEC = bson.CodecOptions(document_class=RawBSONDocument, tz_aware=True)


def to_ejson(value: Any) -> Any:
    """A BSON value or document in canonical Extended JSON, as plain JSON data."""
    return json.loads(json_util.dumps(value, json_options=_OPTIONS))


def from_ejson(value: Any) -> Any:
    """The BSON value or document `to_ejson` gave."""
    return json_util.loads(json.dumps(value), json_options=_OPTIONS)


def pack(document: Mapping[str, Any]) -> str:
    raw = document.raw if isinstance(document, RawBSONDocument) else bson.encode(document, codec_options=CODEC)
    return base64.b64encode(raw).decode("ascii")


def unpack(packed: str) -> RawBSONDocument:
    return RawBSONDocument(base64.b64decode(packed), RAW_CODEC)


def readable(packed: str) -> dict[str, Any]:
    """A packed document as canonical Extended JSON (for subscription records)."""
    return to_ejson(bson.decode(base64.b64decode(packed), codec_options=CODEC))
