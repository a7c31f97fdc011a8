"""consume: read a subscription task's change stream as a member of a consumer group."""

from __future__ import annotations

import datetime
import json
import logging
import signal
import sys
import time
import click

from dtsctl.cli.context import CliContext, pass_context
from dtsctl.errors import DtsError
from dtsctl.subscribe import LeaseLost, Record, Start, Subscriber


def _parse_time(text: str) -> float:
    """ISO 8601 (a time without a zone is local) or unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise DtsError(f"--from-timestamp {text!r} is neither ISO 8601 (2024-05-01T10:00:00) nor unix seconds") from exc
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def _render(record: Record, fmt: str) -> str:
    if fmt == "json":
        return record.json
    data = record.envelope
    image = data["after"] if data["after"] is not None else data["before"]
    line = f"{record.seq} {data['commit_time']} {record.op} {record.object or '-'}"
    return line if image is None else f"{line} {json.dumps(image, ensure_ascii=False)}"


@click.command()
@click.argument("address")
@click.option("--group", "-g", required=True, help="The consumer group to read as (declared in consumer_groups).")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained record.")
@click.option("--from-latest", is_flag=True, help="Start after the newest record: only what comes next.")
@click.option("--from-timestamp", metavar="TIME",
              help="Start at the first transaction committed at or after TIME (ISO 8601 or unix seconds).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True,
              help="json: one envelope per line (docs/subscriptions.md); text: one short line per record.")
@click.option("--no-commit", is_flag=True, help="Peek: read without taking the group's lease or committing.")
@click.option("--max-records", type=click.IntRange(min=1), default=None, help="Stop after this many records.")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop when no record arrives for this long (default: wait for records forever).")
@pass_context
def consume(cli: CliContext, address: str, group: str, from_beginning: bool, from_latest: bool,
            from_timestamp: str | None, fmt: str, no_commit: bool, max_records: int | None,
            timeout: float | None) -> int:
    """Print the records of subscription task ADDRESS as JSON lines, committing the group's offset as it goes.

    Several `consume` processes of one group share the work by failover: one reads,
    the others wait and take over when it stops. Records after the last commit are
    read again by the next consumer (at-least-once). On the etcd runtime the records
    are in NATS JetStream, found from the workspace; the NATS password is read from
    DTSCTL_NATS_PASSWORD (or a token from DTSCTL_NATS_TOKEN)."""
    if sum((from_beginning, from_latest, from_timestamp is not None)) > 1:
        raise DtsError("give at most one of --from-beginning, --from-latest and --from-timestamp")
    start: Start = "committed"
    if from_beginning:
        start = "earliest"
    elif from_latest:
        start = "latest"
    elif from_timestamp is not None:
        start = _parse_time(from_timestamp)
    _log_to_stderr()
    signal.signal(signal.SIGTERM, _stop)
    subscriber = Subscriber(cli.root, address, group, start=start, exclusive=not no_commit)
    try:
        _consume(subscriber, fmt, not no_commit, max_records, timeout)
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.close()
    return 0


def _consume(subscriber: Subscriber, fmt: str, commit: bool, max_records: int | None,
             timeout: float | None) -> None:
    """Print, flush, then commit each batch: a record is committed only once it is on stdout."""
    printed = 0
    idle_since = time.monotonic()
    while max_records is None or printed < max_records:
        wait = 1.0 if timeout is None else max(0.0, min(1.0, timeout - (time.monotonic() - idle_since)))
        batch = subscriber.poll(max_records=(max_records - printed) if max_records else 500, timeout=wait)
        if not batch:
            if timeout is not None and time.monotonic() - idle_since >= timeout:
                return
            continue
        for record in batch:
            sys.stdout.write(_render(record, fmt) + "\n")
        sys.stdout.flush()
        printed += len(batch)
        idle_since = time.monotonic()
        if commit:
            try:
                subscriber.commit(batch[-1].seq)
            except LeaseLost as lost:
                click.echo(f"warning: {lost}", err=True)


def _stop(*_args: object) -> None:
    raise KeyboardInterrupt


def _log_to_stderr() -> None:
    """Lease hand-overs are worth seeing on a terminal; records go to stdout alone."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("dtsctl.subscribe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
