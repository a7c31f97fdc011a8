"""Keeps a Redis cache of orders up to date from the `orders_feed` change stream.

    python consumer.py WORKSPACE REDIS_PORT

Each order lives in the hash `order:<id>`; a delete removes it. The offset is
committed after the cache write, so a consumer that dies re-reads (at least
once) what it had not yet committed: the writes are idempotent, so that is safe.
"""

from __future__ import annotations

import sys

import redis

from dtsctl.subscribe import Subscriber


def cache_key(row: dict) -> str:
    return f"order:{row['id']}"


def main(workspace: str, redis_port: int) -> None:
    cache = redis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True)
    with Subscriber(workspace, "orders_feed", "cache", start="earliest") as feed:
        for record in feed:
            if record.op in ("insert", "update"):
                if record.before and cache_key(record.before) != cache_key(record.after):
                    cache.delete(cache_key(record.before))
                cache.hset(cache_key(record.after), mapping={k: str(v) for k, v in record.after.items()
                                                            if v is not None})
            elif record.op == "delete":
                cache.delete(cache_key(record.before))
            record.commit()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
