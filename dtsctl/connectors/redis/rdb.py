"""A streaming RDB reader that cuts each value's serialized encoding out exactly.

It does not decode values: a DUMP payload is the value's RDB type byte and
encoding as they are in the file (see dump.py), so knowing where each encoding
ends is enough, and every encoding survives byte for byte (LZF strings,
listpacks, intsets, quicklists, streams with consumer groups, module values).
Covers what Redis 7.x writes (RDB 9 to 11).

Bytes are fed as they arrive (`feed`); `items()` yields what is complete so far.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator, Union

from dtsctl.errors import DtsError

# Value types (rdb.h)
STRING, LIST, SET, ZSET, HASH, ZSET_2, MODULE, MODULE_2 = 0, 1, 2, 3, 4, 5, 6, 7
HASH_ZIPMAP, LIST_ZIPLIST, SET_INTSET, ZSET_ZIPLIST, HASH_ZIPLIST = 9, 10, 11, 12, 13
LIST_QUICKLIST, STREAM_LISTPACKS, HASH_LISTPACK, ZSET_LISTPACK = 14, 15, 16, 17
LIST_QUICKLIST_2, STREAM_LISTPACKS_2, SET_LISTPACK, STREAM_LISTPACKS_3 = 18, 19, 20, 21
_SINGLE_STRING = {STRING, HASH_ZIPMAP, LIST_ZIPLIST, SET_INTSET, ZSET_ZIPLIST, HASH_ZIPLIST, HASH_LISTPACK,
                  ZSET_LISTPACK, SET_LISTPACK}

# Opcodes
_FUNCTION2, _FUNCTION_PRE_GA, _MODULE_AUX, _IDLE, _FREQ = 0xF5, 0xF6, 0xF7, 0xF8, 0xF9
_AUX, _RESIZEDB, _EXPIRETIME_MS, _EXPIRETIME, _SELECTDB, _EOF = 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF

_MODULE_OPCODE_EOF, _MODULE_OPCODE_STRING = 0, 5
SUPPORTED_VERSIONS = range(1, 12)


class RdbError(DtsError):
    """The snapshot holds something dtsctl cannot carry (or is not an RDB at all)."""


class _Incomplete(Exception):
    """More bytes are needed to finish the item."""


@dataclass(frozen=True)
class Entry:
    db: int
    key: bytes
    type: int
    encoding: bytes  # the value exactly as serialized, without the type byte
    expire_ms: int | None  # absolute unix milliseconds, or None


@dataclass(frozen=True)
class DbSize:
    db: int
    keys: int
    expires: int


@dataclass(frozen=True)
class Function:
    """A function library (Redis 7 FUNCTION LOAD); dtsctl does not replicate these."""

    code: bytes


@dataclass(frozen=True)
class End:
    pass


Item = Union[Entry, DbSize, Function, End]


class RdbReader:
    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self.version: int | None = None
        self.db = 0
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buf = self._buf[self._pos:] + data if self._pos < len(self._buf) else data
        self._pos = 0

    def items(self) -> Iterator[Item]:
        """Every item complete in the bytes fed so far."""
        if self.version is None:
            if len(self._buf) < 9:
                return
            header = self._buf[:9]
            if header[:5] != b"REDIS" or not header[5:].isdigit():
                raise RdbError("the source sent a snapshot that is not an RDB file")
            self.version = int(header[5:])
            if self.version not in SUPPORTED_VERSIONS:
                raise RdbError(f"RDB version {self.version} is not supported (dtsctl reads 1 to 11)")
            self._pos = 9
        while not self.done:
            start = self._pos
            try:
                item = self._item()
            except _Incomplete:
                self._pos = start
                return
            if item is not None:
                yield item

    # -- one item ---------------------------------------------------------------------
    def _item(self) -> Item | None:
        """Parse one opcode or key/value (None for opcodes that carry nothing for dtsctl).

        Expire and LRU/LFU opcodes precede their key and are parsed with it, so a rewind on
        _Incomplete never separates a key from its expire.
        """
        expire_ms: int | None = None
        while True:
            opcode = self._byte()
            if opcode == _EXPIRETIME_MS:
                expire_ms = struct.unpack("<q", self._raw(8))[0]
            elif opcode == _EXPIRETIME:
                expire_ms = struct.unpack("<i", self._raw(4))[0] * 1000
            elif opcode == _FREQ:
                self._raw(1)
            elif opcode == _IDLE:
                self._length()
            else:
                break
        if opcode == _SELECTDB:
            self.db = self._length()
            return None
        if opcode == _RESIZEDB:
            return DbSize(self.db, self._length(), self._length())
        if opcode == _AUX:
            self._string()
            self._string()
            return None
        if opcode == _MODULE_AUX:
            self._length()  # module id
            self._length()  # when opcode
            self._length()  # when
            self._module_value()
            return None
        if opcode == _FUNCTION2:
            return Function(self._string())
        if opcode == _FUNCTION_PRE_GA:
            raise RdbError("the snapshot holds functions in the pre-release Redis 7.0 RC format; upgrade the source")
        if opcode == _EOF:
            if self.version is not None and self.version >= 5:
                self._raw(8)  # checksum of the whole file; TCP and RESTORE's CRC protect the values
            self.done = True
            return End()
        key = self._string()
        start = self._pos
        self._value(opcode, key)
        return Entry(self.db, key, opcode, self._buf[start:self._pos], expire_ms)

    def _value(self, kind: int, key: bytes) -> None:
        if kind in _SINGLE_STRING:
            self._skip_string()
        elif kind in (LIST, SET):
            for _ in range(self._length()):
                self._skip_string()
        elif kind == ZSET:
            for _ in range(self._length()):
                self._skip_string()
                size = self._byte()
                if size < 253:
                    self._raw(size)
        elif kind == ZSET_2:
            for _ in range(self._length()):
                self._skip_string()
                self._raw(8)
        elif kind == HASH:
            for _ in range(self._length() * 2):
                self._skip_string()
        elif kind == LIST_QUICKLIST:
            for _ in range(self._length()):
                self._skip_string()
        elif kind == LIST_QUICKLIST_2:
            for _ in range(self._length()):
                self._length()  # container: plain or packed
                self._skip_string()
        elif kind in (STREAM_LISTPACKS, STREAM_LISTPACKS_2, STREAM_LISTPACKS_3):
            self._stream(kind)
        elif kind == MODULE_2:
            self._length()
            self._module_value()
        else:
            raise RdbError(f"key {key!r} has RDB value type {kind}, which dtsctl cannot carry "
                           "(old module format or a newer Redis); exclude it with `key_prefixes`")

    def _stream(self, kind: int) -> None:
        for _ in range(self._length()):
            self._skip_string()  # node key (master entry id)
            self._skip_string()  # listpack
        for _ in range(3):  # length, last id ms, last id seq
            self._length()
        if kind >= STREAM_LISTPACKS_2:
            for _ in range(5):  # first id, max deleted id, entries added
                self._length()
        for _ in range(self._length()):  # consumer groups
            self._skip_string()
            self._length()
            self._length()
            if kind >= STREAM_LISTPACKS_2:
                self._length()  # entries read
            for _ in range(self._length()):  # group PEL: id, delivery time, delivery count
                self._raw(16 + 8)
                self._length()
            for _ in range(self._length()):  # consumers
                self._skip_string()
                self._raw(8 if kind < STREAM_LISTPACKS_3 else 16)  # seen time (and active time)
                for _ in range(self._length()):
                    self._raw(16)

    def _module_value(self) -> None:
        """Module values (MODULE_2) are self-describing opcode sequences ending with EOF."""
        while (opcode := self._length()) != _MODULE_OPCODE_EOF:
            if opcode == _MODULE_OPCODE_STRING:
                self._skip_string()
            elif opcode in (1, 2):  # signed / unsigned integer
                self._length()
            elif opcode in (3, 4):  # float, double
                self._raw(4 if opcode == 3 else 8)
            else:
                raise RdbError(f"unknown module opcode {opcode} in the snapshot")

    # -- primitives -------------------------------------------------------------------
    def _raw(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._buf):
            raise _Incomplete
        data = self._buf[self._pos:end]
        self._pos = end
        return data

    def _byte(self) -> int:
        if self._pos >= len(self._buf):
            raise _Incomplete
        value = self._buf[self._pos]
        self._pos += 1
        return value

    def _length_or_encoding(self) -> tuple[int, bool]:
        first = self._byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self._byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self._raw(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self._raw(8))[0], False
        raise RdbError(f"unknown length encoding 0x{first:02x} in the snapshot")

    def _length(self) -> int:
        value, encoded = self._length_or_encoding()
        if encoded:
            raise RdbError("an encoded value where the snapshot should hold a length")
        return value

    def _skip_string(self) -> None:
        value, encoded = self._length_or_encoding()
        if not encoded:
            self._raw(value)
        elif value == 0:
            self._raw(1)
        elif value == 1:
            self._raw(2)
        elif value == 2:
            self._raw(4)
        elif value == 3:  # LZF: compressed length, original length, data
            compressed = self._length()
            self._length()
            self._raw(compressed)
        else:
            raise RdbError(f"unknown string encoding {value} in the snapshot")

    def _string(self) -> bytes:
        """A string decoded to bytes (keys, aux fields): plain, integer or LZF."""
        value, encoded = self._length_or_encoding()
        if not encoded:
            return self._raw(value)
        if value in (0, 1, 2):
            size = (1, 2, 4)[value]
            return str(int.from_bytes(self._raw(size), "little", signed=True)).encode()
        if value == 3:
            compressed = self._length()
            original = self._length()
            return lzf_decompress(self._raw(compressed), original)
        raise RdbError(f"unknown string encoding {value} in the snapshot")


def lzf_decompress(data: bytes, size: int) -> bytes:
    """LZF (liblzf) decompression; only keys need it, values are carried compressed."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            out += data[i:i + ctrl + 1]
            i += ctrl + 1
            continue
        length = ctrl >> 5
        if length == 7:
            length += data[i]
            i += 1
        ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
        i += 1
        for k in range(length + 2):
            out.append(out[ref + k])
    if len(out) != size:
        raise RdbError("a compressed key in the snapshot is corrupt")
    return bytes(out)
