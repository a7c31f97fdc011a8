"""How the engine classifies failures, which decides what the agent does next.

- `ConnectionFailure`: an endpoint is unavailable (file missing, database locked
  beyond the busy timeout, later: network). Retried inside the agent for up to
  `retry.connection_minutes`, resuming from checkpoints.
- `FatalError`: retrying cannot help (precheck failed, conflict under policy
  `fail`). The agent records it and exits with EXIT_FATAL.
- anything else: a crash; the supervisor restarts the agent with backoff.
"""

from __future__ import annotations

from dtsctl.errors import DtsError
from dtsctl.engine.events import Op, Row, format_key


class ConnectionFailure(DtsError):
    """An endpoint could not be reached or used right now; worth retrying."""


class EndpointMissing(ConnectionFailure):
    """The endpoint itself is gone (e.g. a SQLite file was deleted); teardown tolerates this."""


class FatalError(DtsError):
    """An error that retrying will not fix."""


class PositionLost(FatalError):
    """The source no longer has the position the stream resumes from (binlog purged, replication
    backlog overwritten). Fatal unless the task declares `on_position_lost: reseed`."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}, or set `on_position_lost: reseed` on the task to have it copy "
                         "everything again by itself")
        self.what, self.fix = what, fix

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # the reader process hands it over pickled
        return (PositionLost, (self.what, self.fix))


class ConflictError(FatalError):
    """A change met an unexpected destination row under conflict policy `fail`."""

    def __init__(self, op: Op, table: str, key: Row) -> None:
        preposition = {"insert": "into", "update": "of", "delete": "from"}[op]
        what = "already exists" if op == "insert" else "does not exist"
        super().__init__(
            f"conflict: {op} {preposition} {table} key {format_key(key)} {what}; conflict_policy is fail"
        )
        self.op = op
        self.table = table
        self.key = key
