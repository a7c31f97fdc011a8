"""DUMP payloads and the RESTORE commands that carry them: the snapshot's hot path.

Payload layout (cluster.c createDumpPayload): type byte, encoding, RDB version as two
little-endian bytes, then the CRC-64/Redis (Jones) of everything before it, little-endian.
A RESTORE is formatted around the payload's parts in one `%` operation, not through the
general `resp.encode`: a snapshot has millions of keys.
"""

from __future__ import annotations

from typing import Callable

import anycrc

_CRC64 = anycrc.Model("CRC64-REDIS")
_ABSTTL = b"$6\r\nABSTTL\r\n"
_REPLACE = b"$7\r\nREPLACE\r\n"
_BODY = b"%c%b%b"  # type byte, encoding, RDB version: what the CRC-64 covers


def dump_payload(value_type: int, encoding: bytes, rdb_version: int) -> bytes:
    """What `DUMP` returns for the value."""
    body = _BODY % (value_type, encoding, rdb_version.to_bytes(2, "little"))
    return body + _CRC64.calc(body).to_bytes(8, "little")


RestoreCommand = Callable[[bytes, int, int, bytes], bytes]


def restore_command(rdb_version: int, replace: bool) -> RestoreCommand:
    """A function (key, ttl_ms, value type, encoding) -> `RESTORE key ttl payload [ABSTTL] [REPLACE]`
    as RESP, the same bytes as `resp.encode` of those arguments (ABSTTL when `ttl_ms`, an absolute
    time, is set). Made once per RDB: the version, the options and the CRC are bound in advance,
    and each key costs one formatting of the payload and one of the command."""
    version = rdb_version.to_bytes(2, "little")
    replaced = _REPLACE if replace else b""
    crc64, layout = _CRC64.calc, _BODY
    with_ttl = b"*%d\r\n$7\r\nRESTORE\r\n$%%d\r\n%%b\r\n$%%d\r\n%%b\r\n$%%d\r\n%%b%%b\r\n%b%b" % (
        5 + replace, _ABSTTL, replaced)
    without = b"*%d\r\n$7\r\nRESTORE\r\n$%%d\r\n%%b\r\n$1\r\n0\r\n$%%d\r\n%%b%%b\r\n%b" % (4 + replace, replaced)

    def restore(key: bytes, ttl_ms: int, value_type: int, encoding: bytes) -> bytes:
        body = layout % (value_type, encoding, version)
        crc = crc64(body).to_bytes(8, "little")
        if ttl_ms:
            ttl = b"%d" % ttl_ms
            return with_ttl % (len(key), key, len(ttl), ttl, len(body) + 8, body, crc)
        return without % (len(key), key, len(body) + 8, body, crc)

    return restore
