"""Server settings and privileges a task needs, each problem one line saying what to change."""

from __future__ import annotations

import re
from typing import Any, Sequence

import pymysql

from dtsctl.connectors.mysql.connection import address, query, scalar

MIN_RETENTION_SECONDS = 86_400  # a stopped task can resume within a day


def source_problems(conn: pymysql.Connection, endpoint: dict[str, Any], incremental: bool,
                    databases: Sequence[str]) -> list[str]:
    where = f"source {address(endpoint)}"
    problems = []
    if incremental:
        settings = _variables(conn, ("log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
                                     "binlog_expire_logs_seconds", "expire_logs_days"))
        wanted = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}
        for name, value in wanted.items():
            actual = settings.get(name)
            if actual is None and name == "binlog_row_metadata":
                continue  # servers before MariaDB 10.5 / MySQL 8.0.14 lack it
            if (actual or "").upper() == value:
                continue
            if name == "log_bin":
                problems.append(f"{where} log_bin is {actual or 'OFF'}: add log_bin=ON to the [mariadbd] "
                                "section of my.cnf and restart the server")
            else:
                problems.append(f"{where} {name} is {actual}: run SET GLOBAL {name} = '{value}' and add "
                                f"{name}={value} to the [mariadbd] section of my.cnf")
        retention = _retention_seconds(settings)
        if (settings.get("log_bin") or "").upper() == "ON" and 0 < retention < MIN_RETENTION_SECONDS:
            problems.append(f"{where} keeps binlogs only {retention} s: run SET GLOBAL binlog_expire_logs_seconds "
                            f"= {MIN_RETENTION_SECONDS} (and set it in my.cnf) so a stopped task can resume")
    grants = _grants(conn)
    user = _account(conn)
    if incremental:
        missing = [name for name, aliases in (("REPLICATION SLAVE", ("REPLICATION SLAVE",)),
                                              ("REPLICATION CLIENT", ("REPLICATION CLIENT", "BINLOG MONITOR")))
                   if not _granted(grants, aliases, "*")]
        if missing:
            problems.append(f"{where} user {user} lacks {', '.join(missing)}: run GRANT {', '.join(missing)} "
                            f"ON *.* TO {user}")
    for database in databases:
        if not _granted(grants, ("SELECT",), database):
            problems.append(f"{where} user {user} cannot read database {database}: run GRANT SELECT ON "
                            f"`{database}`.* TO {user}")
    return problems


def destination_problems(conn: pymysql.Connection, endpoint: dict[str, Any], source_version: str | None) -> list[str]:
    where = f"destination {address(endpoint)}"
    problems = []
    version = scalar(conn, "SELECT VERSION()")
    if source_version and _version(version) < _version(source_version):
        problems.append(f"{where} runs {version}, older than the source's {source_version}: use a destination "
                        "server of the same or a newer version")
    return problems


def _variables(conn: pymysql.Connection, names: Sequence[str]) -> dict[str, str]:
    placeholders = ", ".join("%s" for _ in names)
    return {name.lower(): value for name, value in
            query(conn, f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders})", tuple(names))}


def _retention_seconds(settings: dict[str, str]) -> int:
    seconds = int(float(settings.get("binlog_expire_logs_seconds") or 0))
    return seconds or int(float(settings.get("expire_logs_days") or 0) * 86_400)


def _account(conn: pymysql.Connection) -> str:
    user, _, host = (scalar(conn, "SELECT CURRENT_USER()") or "").partition("@")
    return f"'{user}'@'{host}'"


def _grants(conn: pymysql.Connection) -> list[str]:
    return [row[0] for row in query(conn, "SHOW GRANTS FOR CURRENT_USER()")]


_GRANT = re.compile(r"^GRANT\s+(.*?)\s+ON\s+(\S+)\s+TO\s", re.IGNORECASE)


def _granted(grants: Sequence[str], privileges: Sequence[str], database: str) -> bool:
    """Whether any grant on *.* (or `database`.*) includes one of `privileges` or ALL PRIVILEGES."""
    for grant in grants:
        match = _GRANT.match(grant)
        if not match:
            continue
        scope = match.group(2).replace("`", "")
        if scope not in ("*.*", f"{database}.*"):
            continue
        held = match.group(1).upper()
        if "ALL PRIVILEGES" in held or any(privilege in held for privilege in privileges):
            return True
    return False


def _version(text: str | None) -> tuple[int, ...]:
    numbers = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(part) for part in numbers.groups()) if numbers else (0,)
