"""DUMP payloads and the RESTORE commands that carry them: the snapshot's hot path.

Payload layout (cluster.c createDumpPayload): type byte, encoding, RDB version as two
little-endian bytes, then the CRC-64/Redis (Jones) of everything before it, little-endian.
A RESTORE is formatted around the payload's parts in one `%` operation, not through the
general `resp.encode`: a snapshot has millions of keys.
"""

from __future__ import annotations

import anycrc

_CRC64 = anycrc.Model("CRC64-REDIS")
_ABSTTL = b"$6\r\nABSTTL\r\n"
_REPLACE = b"$7\r\nREPLACE\r\n"


def payload_parts(value_type: int, encoding: bytes, rdb_version: bytes) -> tuple[bytes, bytes]:
    """The payload as (type byte, encoding and version; CRC-64), for `rdb_version` as two
    little-endian bytes."""
    body = b"%c%b%b" % (value_type, encoding, rdb_version)
    return body, _CRC64.calc(body).to_bytes(8, "little")


def dump_payload(value_type: int, encoding: bytes, rdb_version: int) -> bytes:
    """What `DUMP` returns for the value."""
    return b"%b%b" % payload_parts(value_type, encoding, rdb_version.to_bytes(2, "little"))


def restore_command(key: bytes, ttl_ms: int, value_type: int, encoding: bytes, rdb_version: bytes,
                    replace: bool) -> bytes:
    """`RESTORE key ttl payload [ABSTTL] [REPLACE]` as RESP, the same bytes as `resp.encode` of those
    arguments (ABSTTL when `ttl_ms`, an absolute time, is set); `rdb_version` as in `payload_parts`."""
    body, crc = payload_parts(value_type, encoding, rdb_version)
    replaced = _REPLACE if replace else b""
    if ttl_ms:
        ttl = b"%d" % ttl_ms
        return b"*%d\r\n$7\r\nRESTORE\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b%b\r\n%b%b" % (
            5 + replace, len(key), key, len(ttl), ttl, len(body) + 8, body, crc, _ABSTTL, replaced)
    return b"*%d\r\n$7\r\nRESTORE\r\n$%d\r\n%b\r\n$1\r\n0\r\n$%d\r\n%b%b\r\n%b" % (
        4 + replace, len(key), key, len(body) + 8, body, crc, replaced)

