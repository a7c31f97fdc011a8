"""status, wait, logs: what the agents are doing, read from the workspace's own files."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from dtsctl.cli.context import CliContext, matches_address, pass_context, state_option
from dtsctl.cli.progress import LiveLines, table_lines
from dtsctl.errors import DtsError
from dtsctl.orchestrate.backend import recorded_runtime, tasks_for
from dtsctl.runtime.agent_control import PHASE_ORDER, Agent, TaskView
from dtsctl.runtime.follow import follow_lines, last_lines
from dtsctl.engine.subscription.status import describe
from dtsctl.engine.subscription.store import StoreMissing
from dtsctl.subscribe.locate import locate_store


def _managed_views(cli: CliContext, selector: str | None) -> list[TaskView]:
    state = cli.state_file().read()
    tasks = tasks_for(cli.runtime())
    views = [tasks.task(r.address).view() for r in state.resources if matches_address(r.address, selector)]
    if selector and not views:
        raise DtsError(f"no managed task matches {selector}; see `dtsctl state list`")
    return views


def _format_lag(lag: float | None) -> str:
    return "-" if lag is None else f"{lag:.1f}s"


def _render_table(views: list[TaskView]) -> str:
    if not views:
        return "No tasks are managed in this workspace. Run `dtsctl apply` to start some."
    on_nodes = any(view.node for view in views)  # the cluster runtime: which node runs each task
    header = ("ADDRESS", "STATE", "PHASE", "LAG", "ROWS", "EVENTS", *(("NODE",) if on_nodes else ()), "PID",
              "LAST ERROR")
    rows = [header]
    for view in views:
        data = view.as_contract()
        rows.append((view.address, view.state, view.phase or "-", _format_lag(data["lag_seconds"]),
                     str(data["rows_copied"]), str(data["events_applied"]), *((view.node or "-",) if on_nodes else ()),
                     str(view.pid or "-"), (view.last_error or "")[:100]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                     for row in rows).rstrip()


def _render_details(view: TaskView) -> None:
    data = view.as_contract()
    click.echo(f"\n{view.address}: checkpoint {data['checkpoint'] or '-'}")
    for side in ("reader", "applier"):
        if data.get(side):
            click.echo(f"  {side}: at {data[side]['position'] or '-'}, {data[side]['events_per_second']:g} events/s "
                       "over the last 10 s")
    conflicts = data["conflicts"]
    if any(conflicts.values()):
        click.echo("  conflicts: " + ", ".join(f"{op} {count}" for op, count in conflicts.items()))
    if data.get("full_resyncs"):
        click.echo(f"  full resyncs: {data['full_resyncs']} (last: {data['full_resync_reason']})")
    if data.get("expired_on_destination"):
        click.echo(f"  keys expired on the destination before the source's writes reached them: "
                   f"{data['expired_on_destination']} (sent again by the source; run verify)")
    throttle = data.get("throttle")
    if throttle and (throttle["rps"] or throttle["mbps"]):
        limits = [f"{throttle['rps']:g} rows/s" if throttle["rps"] else "", f"{throttle['mbps']:g} MB/s" if throttle["mbps"] else ""]
        window = f" (window {throttle['window']})" if throttle["window"] else ""
        click.echo(f"  throttle: {', '.join(limit for limit in limits if limit)}{window}")
    if data.get("heartbeat_writable") is False:
        click.echo("  lag: unknown, the source refuses the heartbeat write (read-only?)")
    if data.get("verify"):
        click.echo(f"  last verify: {_verify_summary(data['verify'])}")
    for line in table_lines(data["tables"]):
        click.echo(line)


def _verify_summary(last: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last["finished_at"]))
    if "error" in last:
        outcome = f"failed: {last['error']}"
    else:
        outcome = "equal" if last["equal"] else f"{last['differences']} difference(s); see `dtsctl verify`"
    return f"{outcome} ({last['trigger']}, {when})"


def _subscription(cli: CliContext, address: str, kind: str | None) -> dict[str, Any] | None:
    """The change stream of a subscription task (retained range, groups, delivery), else None; when its
    replicated store cannot be read from here, {"unavailable": why, "warnings": [why]}."""
    if kind != "subscription":
        return None
    try:
        return describe(locate_store(cli.root, address))
    except StoreMissing:
        return None
    except DtsError as exc:
        return {"unavailable": exc.message, "warnings": [f"its change stream cannot be read: {exc.message}"]}


def _render_subscription(stream: dict[str, Any] | None) -> None:
    if stream is None or "unavailable" in stream:
        return
    kept = stream["retained"]
    if kept["records"]:
        click.echo(f"  retained: seq {kept['first_seq']}..{kept['last_seq']} ({kept['records']} records, "
                   f"{kept['megabytes']} MB), {kept['oldest']} to {kept['newest']}")
    else:
        click.echo(f"  retained: nothing (last seq {kept['last_seq']})")
    rows = [("GROUP", "OFFSET", "LAG", "LAG SECONDS", "CONSUMER")]
    rows += [(g["name"], str(g["offset"]), str(g["lag_records"]), f"{g['lag_seconds']:.1f}s", g["holder"] or "-")
             for g in stream["groups"]]
    delivery = stream["delivery"]
    if delivery:
        rows.append(("(delivery)", str(delivery["seq"]), str(delivery["lag_records"]),
                     f"{delivery['lag_seconds']:.1f}s", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command()
@click.argument("address", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print {\"tasks\": [...]} as JSON.")
@click.option("--watch", is_flag=True, help="Refresh every second until interrupted.")
@state_option
@pass_context
def status(cli: CliContext, address: str | None, as_json: bool, watch: bool) -> None:
    """What each task is doing now; with ADDRESS, also each table's full-copy
    progress, and where the reader and the applier stand.

    The reader (source -> change log) and the applier (change log ->
    destination) run as separate processes; in --json each task has
    "reader": {"pid", "position", "events_per_second"} and "applier":
    {"position", "events_per_second"}: the source position each has reached
    and the change events it handled per second over the last 10 s, so the
    side that is behind shows.
    """
    while True:
        views = _managed_views(cli, address)
        kinds = {resource.address: resource.attributes.get("type") for resource in cli.state_file().read().resources}
        streams = {view.address: _subscription(cli, view.address, kinds.get(view.address)) for view in views}
        if as_json:
            tasks = [{**view.as_contract(), **({"subscription": streams[view.address]} if streams[view.address] else {})}
                     for view in views]
            click.echo(json.dumps({"tasks": tasks}, indent=2))
        else:
            if watch:
                click.clear()
            click.echo(_render_table(views))
            if address:
                for view in views:
                    _render_details(view)
                    _render_subscription(streams[view.address])
            for view in views:
                for warning in (streams[view.address] or {}).get("warnings", []):
                    click.echo(f"warning: {view.address}: {warning}", err=True)
        if not watch:
            return
        time.sleep(1)


@click.command()
@click.argument("address")
@click.option("--phase", type=click.Choice(PHASE_ORDER[1:]), default="incremental", show_default=True)
@click.option("--max-lag", type=float, default=None, metavar="SECONDS", help="Also wait until lag is at most this.")
@click.option("--timeout", type=float, default=600.0, show_default=True, metavar="SECONDS")
@state_option
@pass_context
def wait(cli: CliContext, address: str, phase: str, max_lag: float | None, timeout: float) -> int:
    """Block until the task reaches PHASE (and lag at most --max-lag); exit 1 on timeout or failure."""
    deadline = time.monotonic() + timeout
    bar = LiveLines() if sys.stdout.isatty() else None
    while True:
        views = _managed_views(cli, address)
        if bar:
            bar.show([line for view in views if view.phase == "full" for line in table_lines(view.status.get("tables", {}))])
        failed = [v for v in views if v.state == "failed"]
        if failed:
            click.echo(f"Error: {failed[0].address} failed: {failed[0].last_error}", err=True)
            return 1
        if all(_reached(view, phase, max_lag) for view in views):
            if bar:
                bar.show([])
            for view in views:
                click.echo(f"{view.address}: {view.phase}, lag {_format_lag(view.status.get('lag_seconds'))}")
            return 0
        if time.monotonic() >= deadline:
            pending = [v for v in views if not _reached(v, phase, max_lag)]
            click.echo(f"Error: timed out after {timeout:g}s waiting for {pending[0].address} to reach {phase}"
                       f" (it is {pending[0].state}, phase {pending[0].phase})", err=True)
            return 1
        time.sleep(0.2)


def _reached(view: TaskView, phase: str, max_lag: float | None) -> bool:
    if not view.reached(phase):
        return False
    if view.state == "completed":
        return True
    lag = view.status.get("lag_seconds")
    return max_lag is None or (lag is not None and lag <= max_lag)


@click.command()
@click.argument("address")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--lines", "-n", type=int, default=50, show_default=True, help="How many last lines to show.")
@state_option
@pass_context
def logs(cli: CliContext, address: str, follow: bool, lines: int) -> None:
    """The task's agent log."""
    agent = Agent(cli.runtime(), address)
    if not agent.paths.log.exists():
        node = tasks_for(cli.runtime()).task(address).view().node if recorded_runtime(cli.runtime()) else None
        if node:
            raise DtsError(f"{address} runs on node {node}: its log is agent.log in tasks/{address}/ under that "
                           "node's data directory (.dtsctl-node/NAME by default)")
        raise DtsError(f"no log for {address}: it has no agent in this workspace; see `dtsctl status`")
    for line in last_lines(agent.paths.log, lines):
        click.echo(line)
    if follow:
        for line in follow_lines(agent.paths.log):
            click.echo(line)
