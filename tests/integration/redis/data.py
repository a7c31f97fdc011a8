"""Data of every Redis type (and every encoding Redis 7 uses for it), and a concurrent write load."""

from __future__ import annotations

import random
import threading
import time

import redis


def seed(client: redis.Redis, prefix: str = "", count: int = 50) -> None:
    """Keys of every type, small (listpack/intset) and large (hashtable/skiplist/quicklist), many with TTLs."""
    p = prefix
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{p}str:{i}", f"value {i}" * (i % 5 + 1))
        pipe.set(f"{p}int:{i}", i * 1000)  # int encoding
        pipe.lpush(f"{p}list:{i}", *[f"item{j}" for j in range(i % 7 + 1)])
        pipe.hset(f"{p}hash:{i}", mapping={f"f{j}": f"v{j}" for j in range(i % 5 + 1)})
        pipe.sadd(f"{p}iset:{i}", *range(i % 9 + 1))  # intset
        pipe.sadd(f"{p}set:{i}", *[f"m{j}" for j in range(i % 6 + 1)])
        pipe.zadd(f"{p}zset:{i}", {f"z{j}": j * 1.5 for j in range(i % 6 + 1)})
        if i % 3 == 0:
            pipe.expire(f"{p}str:{i}", 3600 + i)
            pipe.pexpire(f"{p}hash:{i}", 7_200_000)
    pipe.set(f"{p}binary", bytes(range(256)) * 4)
    pipe.set(f"{p}compressible", "a" * 20_000)  # LZF-compressed in the RDB
    pipe.setbit(f"{p}bitmap", 100_000, 1)
    pipe.pfadd(f"{p}hll", *[f"e{i}" for i in range(2000)])
    pipe.geoadd(f"{p}geo", (13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania"))
    pipe.rpush(f"{p}biglist", *[f"element number {i}" for i in range(3000)])  # quicklist of several nodes
    pipe.hset(f"{p}bighash", mapping={f"field{i}": f"value{i}" * 3 for i in range(600)})  # hashtable
    pipe.sadd(f"{p}bigset", *[f"member{i}" for i in range(600)])  # hashtable set
    pipe.sadd(f"{p}bigintset", *range(100_000, 100_600))  # intset beyond 512 -> hashtable
    pipe.zadd(f"{p}bigzset", {f"m{i}": i / 7 for i in range(300)})  # skiplist
    pipe.hset(f"{p}longvalue", "f", "x" * 200)  # listpack -> hashtable by value size
    pipe.execute()
    stream = f"{p}stream"
    for i in range(250):
        client.xadd(stream, {"n": i, "text": f"entry {i}"})
    client.xgroup_create(stream, "g1", id="0")
    client.xgroup_create(stream, "g2", id="$")
    client.xreadgroup("g1", "alice", {stream: ">"}, count=10)
    client.xreadgroup("g1", "bob", {stream: ">"}, count=5)
    first = client.xrange(stream, count=2)
    client.xack(stream, "g1", first[0][0])
    client.expire(f"{p}bigzset", 5000)
    client.pexpireat(f"{p}biglist", int((time.time() + 9000) * 1000))


def write_load(client: redis.Redis, prefix: str, stop: threading.Event, seed_value: int = 7) -> int:
    """Writes of the seed command list until stopped; returns how many rounds ran."""
    rnd = random.Random(seed_value)
    p = prefix
    rounds = 0
    while not stop.is_set():
        i = rnd.randrange(60)
        pipe = client.pipeline(transaction=rnd.random() < 0.3)  # MULTI/EXEC blocks too
        pipe.append(f"{p}str:{i}", "+")
        pipe.incr(f"{p}counter")
        pipe.incrbyfloat(f"{p}float", 0.5)
        pipe.execute_command("SETEX", f"{p}ttl:{i}", 100 + i, "soon")
        pipe.rpush(f"{p}list:{i}", rounds)
        pipe.lpop(f"{p}list:{(i + 1) % 60}")
        pipe.hincrby(f"{p}hash:{i}", "n", 1)
        pipe.hdel(f"{p}hash:{(i + 2) % 60}", "f0")
        pipe.sadd(f"{p}set:{i}", f"x{rounds % 10}")
        pipe.srem(f"{p}set:{(i + 3) % 60}", "m0")
        pipe.zincrby(f"{p}zset:{i}", 1, "z0")
        pipe.zremrangebyrank(f"{p}zset:{(i + 4) % 60}", 0, 0)
        pipe.xadd(f"{p}stream", {"load": rounds}, maxlen=400, approximate=False)
        pipe.setbit(f"{p}bitmap", rounds % 1000, 1)
        pipe.pfadd(f"{p}hll", f"load{rounds}")
        pipe.expire(f"{p}set:{i}", 2000)
        pipe.persist(f"{p}str:{(i + 5) % 60}")
        if rounds % 10 == 0:
            pipe.rename(f"{p}int:{i}", f"{p}renamed:{rounds}")
            pipe.delete(f"{p}iset:{(i + 6) % 60}")
            pipe.mset({f"{p}m1:{i}": rounds, f"{p}m2:{i}": rounds})
            pipe.spop(f"{p}bigset")
            pipe.lmove(f"{p}biglist", f"{p}list:{i}", "LEFT", "RIGHT")
            pipe.xtrim(f"{p}stream", maxlen=350)
            pipe.eval("redis.call('SET', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], 500)", 1,
                      f"{p}script:{i}", rounds)
            pipe.publish("news", "hello")
        pipe.execute(raise_on_error=False)  # e.g. RENAME of a key renamed before
        rounds += 1
        time.sleep(0.002)
    return rounds
