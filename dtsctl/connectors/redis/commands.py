"""What the write commands of a replication stream touch: their keys, databases and TTLs.

Only commands a Redis 7 primary propagates appear here (blocking and script
commands arrive rewritten as plain ones). A command missing from these tables
is refused rather than guessed at, because key filters and slot routing depend
on knowing its keys.
"""

from __future__ import annotations

from typing import Callable, Sequence

Args = Sequence[bytes]

# Commands that touch no key and are applied or handled by name.
CONTROL = frozenset({b"select", b"multi", b"exec", b"ping", b"replconf", b"publish", b"spublish",
                     b"flushdb", b"flushall", b"swapdb", b"function", b"script"})

_ONE_KEY = """
set setnx setex psetex append incr decr incrby decrby incrbyfloat getset getdel getex setrange setbit
bitfield pfadd lpush rpush lpushx rpushx linsert lset lrem ltrim lpop rpop hset hsetnx hmset hdel
hincrby hincrbyfloat sadd srem spop zadd zincrby zrem zremrangebyrank zremrangebyscore zremrangebylex
zpopmin zpopmax xadd xdel xtrim xack xclaim xautoclaim xsetid expire pexpire expireat pexpireat persist
restore restore-asking geoadd move
""".split()
_ALL_KEYS = "del unlink pfmerge pfcount sinterstore sunionstore sdiffstore".split()
_TWO_KEYS = "rename renamenx smove rpoplpush lmove brpoplpush blmove copy geosearchstore zrangestore".split()


def _first(args: Args) -> list[bytes]:
    """The one key of most writes (the stream's hot path: no slice arithmetic)."""
    return [args[1]] if len(args) > 1 else []


def _span(first: int, last: int, step: int = 1) -> Callable[[Args], list[bytes]]:
    def keys(args: Args) -> list[bytes]:
        end = len(args) + last + 1 if last < 0 else min(last + 1, len(args))
        return list(args[first:end:step])
    return keys


def _numkeys(at: int, dest: bool) -> Callable[[Args], list[bytes]]:
    """ZUNIONSTORE dst numkeys k...; LMPOP numkeys k... (numkeys at `at`)."""
    def keys(args: Args) -> list[bytes]:
        count = int(args[at])
        return ([args[1]] if dest else []) + list(args[at + 1:at + 1 + count])
    return keys


def _sort(args: Args) -> list[bytes]:
    keys = [args[1]]
    lowered = [arg.lower() for arg in args]
    if b"store" in lowered[2:]:
        keys.append(args[lowered.index(b"store", 2) + 1])
    return keys


def _georadius(args: Args) -> list[bytes]:
    keys = [args[1]]
    lowered = [arg.lower() for arg in args]
    for option in (b"store", b"storedist"):
        if option in lowered[2:]:
            keys.append(args[lowered.index(option, 2) + 1])
    return keys


def _xgroup(args: Args) -> list[bytes]:
    return [args[2]] if len(args) > 2 else []


KEYS: dict[bytes, Callable[[Args], list[bytes]]] = {
    **{name.encode(): _first for name in _ONE_KEY},
    **{name.encode(): _span(1, -1) for name in _ALL_KEYS},
    **{name.encode(): _span(1, 2) for name in _TWO_KEYS},
    b"mset": _span(1, -1, 2),
    b"msetnx": _span(1, -1, 2),
    b"bitop": _span(2, -1),
    b"blpop": _span(1, -2),
    b"brpop": _span(1, -2),
    b"bzpopmin": _span(1, -2),
    b"bzpopmax": _span(1, -2),
    b"zunionstore": _numkeys(2, True),
    b"zinterstore": _numkeys(2, True),
    b"zdiffstore": _numkeys(2, True),
    b"lmpop": _numkeys(1, False),
    b"zmpop": _numkeys(1, False),
    b"blmpop": _numkeys(2, False),
    b"bzmpop": _numkeys(2, False),
    b"sort": _sort,
    b"georadius": _georadius,
    b"georadiusbymember": _georadius,
    b"xgroup": _xgroup,
}


def keys_of(args: Args) -> list[bytes] | None:
    """The keys a write command touches; None when the command is unknown."""
    extract = KEYS.get(args[0].lower())
    return None if extract is None else extract(args)


# -- TTLs ---------------------------------------------------------------------------------
# name -> (argument index of the TTL, milliseconds?) for commands with a fixed TTL position
_TTL_AT: dict[bytes, tuple[int, bool]] = {
    b"expire": (2, False), b"pexpire": (2, True), b"expireat": (2, False), b"pexpireat": (2, True),
    b"setex": (2, False), b"psetex": (2, True),
}
_TTL_OPTIONS = {b"ex": False, b"px": True, b"exat": False, b"pxat": True}


def extend_ttl(args: list[bytes], seconds: int) -> list[bytes]:
    """`args` with every TTL it sets made `seconds` longer (a new list; `args` is unchanged)."""
    name = args[0].lower()
    out = list(args)
    if name in _TTL_AT:
        index, millis = _TTL_AT[name]
        out[index] = _plus(out[index], seconds, millis)
    elif name in (b"set", b"getex"):
        for index in range(2, len(out) - 1):
            millis = _TTL_OPTIONS.get(out[index].lower())
            if millis is not None:
                out[index + 1] = _plus(out[index + 1], seconds, millis)
                break
    elif name == b"restore" and int(out[2]) != 0:
        out[2] = _plus(out[2], seconds, True)
    return out


def _plus(value: bytes, seconds: int, millis: bool) -> bytes:
    return str(int(value) + seconds * (1000 if millis else 1)).encode()
