"""A consumer on another "machine": python -m tests.integration.subscribe.stream_reader HOST PORT STREAM INSERTS

Reads the delivered stream with XREADGROUP until INSERTS insert records arrived,
acknowledging each entry, and prints each entry's `record` field (one JSON line).
"""

from __future__ import annotations

import sys

import redis


def main(host: str, port: str, stream: str, inserts: str) -> None:
    client = redis.Redis(host=host, port=int(port), decode_responses=True)
    try:
        client.xgroup_create(stream, "readers", id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    seen = 0
    while seen < int(inserts):
        for _, entries in client.xreadgroup("readers", "reader-1", {stream: ">"}, count=100, block=10_000) or []:
            for entry_id, fields in entries:
                print(fields["record"], flush=True)
                client.xack(stream, "readers", entry_id)
                seen += fields["op"] == "insert"


if __name__ == "__main__":
    main(*sys.argv[1:])
