"""DUMP payloads: what RESTORE accepts, built from a value's RDB encoding.

Layout (cluster.c createDumpPayload): type byte, encoding, RDB version as two
little-endian bytes, then the CRC-64/Redis (Jones) of everything before it, little-endian.
"""

from __future__ import annotations

import anycrc

_CRC64 = anycrc.Model("CRC64-REDIS")


def dump_payload(value_type: int, encoding: bytes, rdb_version: int) -> bytes:
    body = bytes((value_type,)) + encoding + rdb_version.to_bytes(2, "little")
    return body + _CRC64.calc(body).to_bytes(8, "little")
