"""A streaming RDB reader that cuts each value's serialized encoding out exactly.

It does not decode values: a DUMP payload is the value's RDB type byte and
encoding as they are in the file (see dump.py), so knowing where each encoding
ends is enough, and every encoding survives byte for byte (LZF strings,
listpacks, intsets, quicklists, streams with consumer groups, module values).
Covers what Redis 7.x writes (RDB 9 to 11).

Bytes are fed as they arrive (`feed`); `items()` yields what is complete so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple, Union

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

_KEY_PREFIXES = frozenset({_EXPIRETIME_MS, _EXPIRETIME, _FREQ, _IDLE})  # opcodes that come before their key

_MODULE_OPCODE_EOF, _MODULE_OPCODE_STRING = 0, 5
SUPPORTED_VERSIONS = range(1, 12)


class RdbError(DtsError):
    """The snapshot holds something dtsctl cannot carry (or is not an RDB at all)."""


class _Incomplete(Exception):
    """More bytes are needed to finish the item."""


class Entry(NamedTuple):
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
    """Items are parsed with the buffer and a position held in locals (module functions below
    return the position after what they read): a snapshot has millions of entries, and this walk
    is the snapshot's hot path. Reading past the bytes fed raises IndexError or _Incomplete, and
    the item is parsed again once more bytes arrive."""

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self.version: int | None = None
        self.db = 0
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buf = self._buf[self._pos:] + data if self._pos < len(self._buf) else data
        self._pos = 0

    @property
    def rest(self) -> bytes:
        """The bytes fed that are not part of an item read (after the end marker: what follows the RDB)."""
        return self._buf[self._pos:]

    @property
    def buffer(self) -> bytes:
        """The bytes fed and kept: items from `position` on are not read yet."""
        return self._buf

    @property
    def position(self) -> int:
        return self._pos

    def skip_to(self, position: int) -> None:
        """Items up to `position` were read elsewhere (the compiled cutter, snapshot.py)."""
        self._pos = position

    def read_header(self) -> bool:
        """Whether the RDB's header is read (and its version known)."""
        if self.version is None:
            if len(self._buf) < 9:
                return False
            header = self._buf[:9]
            if header[:5] != b"REDIS" or not header[5:].isdigit():
                raise RdbError("the source sent a snapshot that is not an RDB file")
            self.version = int(header[5:])
            if self.version not in SUPPORTED_VERSIONS:
                raise RdbError(f"RDB version {self.version} is not supported (dtsctl reads 1 to 11)")
            self._pos = 9
        return True

    def step(self) -> tuple[bool, Item | None]:
        """(True, the next item or None for opcodes that carry nothing for dtsctl), or (False,
        None) when the bytes fed end inside it."""
        try:
            return True, self._item()
        except (_Incomplete, IndexError):
            return False, None

    def items(self) -> Iterator[Item]:
        """Every item complete in the bytes fed so far."""
        if not self.read_header():
            return
        while not self.done:
            complete, found = self.step()
            if not complete:
                return
            if found is not None:
                yield found

    def _item(self) -> Item | None:
        """Parse one opcode or key/value (None for opcodes that carry nothing for dtsctl); moves
        the position only when the item is complete.

        Expire and LRU/LFU opcodes precede their key and are parsed with it, so an incomplete
        item never separates a key from its expire.
        """
        buf, pos = self._buf, self._pos
        opcode = buf[pos]
        if opcode in _SINGLE_STRING and buf[pos + 1] < 0x40:  # most entries: no expire, a short plain key
            key_end = pos + 2 + buf[pos + 1]
            end = _string_end(buf, key_end)
            if end > len(buf):
                raise _Incomplete
            self._pos = end
            return Entry(self.db, buf[pos + 2:key_end], opcode, buf[key_end:end], None)
        expire_ms: int | None = None
        pos += 1
        while opcode in _KEY_PREFIXES:
            if opcode == _EXPIRETIME_MS:
                expire_ms = int.from_bytes(_raw(buf, pos, 8), "little", signed=True)
                pos += 8
            elif opcode == _EXPIRETIME:
                expire_ms = int.from_bytes(_raw(buf, pos, 4), "little", signed=True) * 1000
                pos += 4
            elif opcode == _FREQ:
                pos += 1
            else:  # _IDLE
                pos = _length(buf, pos)[1]
            opcode = buf[pos]
            pos += 1
        if opcode < _FUNCTION2:
            key, pos = _string(buf, pos)
            end = _value_end(opcode, buf, pos, key)
            if end > len(buf):
                raise _Incomplete
            self._pos = end
            return Entry(self.db, key, opcode, buf[pos:end], expire_ms)
        item: Item | None = None
        if opcode == _SELECTDB:
            db, pos = _length(buf, pos)
            self._pos, self.db = pos, db
            return None
        if opcode == _RESIZEDB:
            keys, pos = _length(buf, pos)
            expires, pos = _length(buf, pos)
            item = DbSize(self.db, keys, expires)
        elif opcode == _AUX:
            pos = _string(buf, _string(buf, pos)[1])[1]
        elif opcode == _MODULE_AUX:
            for _ in range(3):  # module id, when opcode, when
                pos = _length(buf, pos)[1]
            pos = _module_value_end(buf, pos)
        elif opcode == _FUNCTION2:
            code, pos = _string(buf, pos)
            item = Function(code)
        elif opcode == _FUNCTION_PRE_GA:
            raise RdbError("the snapshot holds functions in the pre-release Redis 7.0 RC format; upgrade the source")
        elif opcode == _EOF:
            if self.version is not None and self.version >= 5:
                _raw(buf, pos, 8)  # checksum of the whole file; TCP and RESTORE's CRC protect the values
                pos += 8
            item = End()
        if pos > len(buf):
            raise _Incomplete
        self._pos = pos
        self.done = opcode == _EOF
        return item


# -- encodings: each takes the buffer and a position and returns (value, position after) or the
# position after; the position may end past the buffer, which the caller checks -------------------
def _value_end(kind: int, buf: bytes, pos: int, key: bytes) -> int:
    if kind in _SINGLE_STRING:
        return _string_end(buf, pos)
    if kind in (LIST, SET, LIST_QUICKLIST):
        count, pos = _length(buf, pos)
        for _ in range(count):
            pos = _string_end(buf, pos)
    elif kind == HASH:
        count, pos = _length(buf, pos)
        for _ in range(count * 2):
            pos = _string_end(buf, pos)
    elif kind == ZSET:
        count, pos = _length(buf, pos)
        for _ in range(count):
            pos = _string_end(buf, pos)
            size = buf[pos]
            pos += 1 + (size if size < 253 else 0)
    elif kind == ZSET_2:
        count, pos = _length(buf, pos)
        for _ in range(count):
            pos = _string_end(buf, pos) + 8
    elif kind == LIST_QUICKLIST_2:
        count, pos = _length(buf, pos)
        for _ in range(count):
            pos = _string_end(buf, _length(buf, pos)[1])  # container (plain or packed), then the node
    elif kind in (STREAM_LISTPACKS, STREAM_LISTPACKS_2, STREAM_LISTPACKS_3):
        pos = _stream_end(kind, buf, pos)
    elif kind == MODULE_2:
        pos = _module_value_end(buf, _length(buf, pos)[1])
    else:
        raise RdbError(f"key {key!r} has RDB value type {kind}, which dtsctl cannot carry "
                       "(old module format or a newer Redis); exclude it with `key_prefixes`")
    return pos


def _stream_end(kind: int, buf: bytes, pos: int) -> int:
    count, pos = _length(buf, pos)
    for _ in range(count):
        pos = _string_end(buf, _string_end(buf, pos))  # node key (master entry id), listpack
    for _ in range(8 if kind >= STREAM_LISTPACKS_2 else 3):
        # length, last id ms, last id seq (and first id, max deleted id, entries added)
        pos = _length(buf, pos)[1]
    groups, pos = _length(buf, pos)
    for _ in range(groups):
        pos = _string_end(buf, pos)
        for _ in range(3 if kind >= STREAM_LISTPACKS_2 else 2):  # last id (and entries read)
            pos = _length(buf, pos)[1]
        pending, pos = _length(buf, pos)
        for _ in range(pending):  # group PEL: id, delivery time, delivery count
            pos = _length(buf, pos + 16 + 8)[1]
        consumers, pos = _length(buf, pos)
        for _ in range(consumers):
            pos = _string_end(buf, pos) + (8 if kind < STREAM_LISTPACKS_3 else 16)  # seen (and active) time
            owned, pos = _length(buf, pos)
            pos += 16 * owned
    return pos


def _module_value_end(buf: bytes, pos: int) -> int:
    """Module values (MODULE_2) are self-describing opcode sequences ending with EOF."""
    while True:
        opcode, pos = _length(buf, pos)
        if opcode == _MODULE_OPCODE_EOF:
            return pos
        if opcode == _MODULE_OPCODE_STRING:
            pos = _string_end(buf, pos)
        elif opcode in (1, 2):  # signed / unsigned integer
            pos = _length(buf, pos)[1]
        elif opcode in (3, 4):  # float, double
            pos += 4 if opcode == 3 else 8
        else:
            raise RdbError(f"unknown module opcode {opcode} in the snapshot")


def _raw(buf: bytes, pos: int, size: int) -> bytes:
    end = pos + size
    if end > len(buf):
        raise _Incomplete
    return buf[pos:end]


def _length_or_encoding(buf: bytes, pos: int) -> tuple[int, bool, int]:
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | buf[pos + 1], False, pos + 2
    if kind == 3:
        return first & 0x3F, True, pos + 1
    if first == 0x80:
        return int.from_bytes(_raw(buf, pos + 1, 4), "big"), False, pos + 5
    if first == 0x81:
        return int.from_bytes(_raw(buf, pos + 1, 8), "big"), False, pos + 9
    raise RdbError(f"unknown length encoding 0x{first:02x} in the snapshot")


def _length(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0x40:
        return first, pos + 1
    value, encoded, pos = _length_or_encoding(buf, pos)
    if encoded:
        raise RdbError("an encoded value where the snapshot should hold a length")
    return value, pos


def _string_end(buf: bytes, pos: int) -> int:
    """Where a string ends, without decoding it: plain, integer or LZF-compressed."""
    first = buf[pos]
    if first < 0x40:
        return pos + 1 + first
    value, encoded, pos = _length_or_encoding(buf, pos)
    if not encoded:
        return pos + value
    if value < 3:  # an integer of 1, 2 or 4 bytes
        return pos + (1 << value)
    if value == 3:  # LZF: compressed length, original length, data
        compressed, pos = _length(buf, pos)
        return _length(buf, pos)[1] + compressed
    raise RdbError(f"unknown string encoding {value} in the snapshot")


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """A string decoded to bytes (keys, aux fields): plain, integer or LZF."""
    value, encoded, pos = _length_or_encoding(buf, pos)
    if not encoded:
        return _raw(buf, pos, value), pos + value
    if value < 3:
        size = 1 << value
        return str(int.from_bytes(_raw(buf, pos, size), "little", signed=True)).encode(), pos + size
    if value == 3:
        compressed, pos = _length(buf, pos)
        original, pos = _length(buf, pos)
        return lzf_decompress(_raw(buf, pos, compressed), original), pos + compressed
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
