"""Binlog positions: a MariaDB GTID state plus the binlog file and offset it corresponds to.

    {"gtid": "0-1-42", "file": "bin.000003", "pos": 1234}

The stream resumes by GTID (python-mysql-replication reads MariaDB only that way); the
file and offset order positions of one server and are what status shows. A row event's
position is the file and end offset of its rows event.
"""

from __future__ import annotations

from typing import Any

Position = dict[str, Any]


def make(gtid: str, file: str, pos: int) -> Position:
    return {"gtid": gtid, "file": file, "pos": int(pos)}


def order(position: Position) -> tuple[int, int]:
    """(binlog file number, offset): increasing along one server's binlog."""
    file = position.get("file") or ""
    number = file.rsplit(".", 1)[-1]
    return (int(number) if number.isdigit() else 0, int(position.get("pos") or 0))


def describe(position: Position | None) -> str:
    if not position:
        return "binlog start"
    text = f"{position.get('file')}:{position.get('pos')}"
    return f"{text} gtid {position['gtid']}" if position.get("gtid") else text


def parse_gtid_state(state: str) -> dict[int, tuple[int, int]]:
    """"0-1-42,1-2-7" -> {domain: (server_id, seq_no)}."""
    result: dict[int, tuple[int, int]] = {}
    for item in filter(None, (part.strip() for part in (state or "").split(","))):
        domain, server, seq = (int(field) for field in item.split("-"))
        result[domain] = (server, seq)
    return result


def format_gtid_state(state: dict[int, tuple[int, int]]) -> str:
    if len(state) == 1:  # the usual case, and the binlog thread formats one per transaction
        [(domain, (server, seq))] = state.items()
        return f"{domain}-{server}-{seq}"
    return ",".join(f"{domain}-{server}-{seq}" for domain, (server, seq) in sorted(state.items()))
