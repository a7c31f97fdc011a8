"""DUMP payloads and the RESTORE commands that carry them: the snapshot's hot path.

Payload layout (cluster.c createDumpPayload): type byte, encoding, RDB version as two
little-endian bytes, then the CRC-64/Redis (Jones) of everything before it, little-endian.
Both are formatted in one step each, not through the general `resp.encode`: a snapshot
has millions of keys.
"""

from __future__ import annotations

import anycrc

_CRC64 = anycrc.Model("CRC64-REDIS")
_ABSTTL = b"$6\r\nABSTTL\r\n"
_REPLACE = b"$7\r\nREPLACE\r\n"


def dump_payload(value_type: int, encoding: bytes, rdb_version: int) -> bytes:
    body = b"%c%b%b" % (value_type, encoding, rdb_version.to_bytes(2, "little"))
    return body + _CRC64.calc(body).to_bytes(8, "little")


def restore_command(key: bytes, ttl_ms: int, payload: bytes, replace: bool) -> bytes:
    """`RESTORE key ttl payload [ABSTTL] [REPLACE]` as RESP (ABSTTL when `ttl_ms`, an absolute
    time, is set); the same bytes as `resp.encode` of those arguments."""
    ttl = b"%d" % ttl_ms
    return b"*%d\r\n$7\r\nRESTORE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b%b" % (
        4 + (ttl_ms != 0) + replace, len(key), key, len(ttl), ttl, len(payload), payload,
        _ABSTTL if ttl_ms else b"", _REPLACE if replace else b"")
