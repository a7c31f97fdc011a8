"""verify: compare (and repair) a task's ends, with a progress bar on a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dtsctl.cli.context import CliContext, matches_address, pass_context, state_option, var_options
from dtsctl.cli.progress import BAR_WIDTH, LiveLines
from dtsctl.engine.verification import EXAMPLES, NoProgress, ObjectReport, VerifyProgress
from dtsctl.errors import DtsError
from dtsctl.runtime.verification import verify_task

EXIT_DIFFERENT = 4  # contract addendum (docs/commands.md): differences found


@click.command()
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--tables", "tables", multiple=True, metavar="DB.TABLE",
              help="Compare only this source table (Redis: dbN); repeatable.")
@click.option("--repair", is_flag=True,
              help="Rewrite the differing rows or keys on the destination from the source, through the "
                   "task's applier, and report what changed.")
@var_options
@state_option
@pass_context
def verify(cli: CliContext, address: str, as_json: bool, tables: tuple[str, ...], repair: bool) -> int:
    """Compare source and destination row by row (key by key) while replication runs.

    Exit 0 when equal, 4 when differences are found (or remain after --repair), 1 on an error.
    """
    state = cli.state_file().read()
    selected = [r for r in cli.workspace().resources if matches_address(r.address, address)]
    if not selected:
        raise DtsError(f"no declared task matches {address}; see `dtsctl validate --json`")
    results: list[dict[str, Any]] = []
    for resource in selected:
        record = state.get(resource.address)
        task_id = record.task_id if record else "new"
        progress = VerifyBar() if sys.stdout.isatty() and not as_json else NoProgress()
        reports = verify_task(cli.runtime(), resource.address, task_id, resource.attributes, tables, repair, progress)
        if isinstance(progress, VerifyBar):
            progress.finish()
        for report in reports:
            results.append({"address": resource.address, **report.to_json()})
            if not as_json:
                _render(resource.address, report)
    equal = all(result["equal"] for result in results)
    if as_json:
        click.echo(json.dumps({"equal": equal, "tables": results}, indent=2))
    return 0 if equal else EXIT_DIFFERENT


def _render(address: str, report: ObjectReport) -> None:
    counts = f"{report.source_count} / {'-' if report.destination_count is None else report.destination_count} rows"
    if report.destination_count is None:
        click.echo(f"MISSING   {address} {report.table} -> {report.destination}: the destination has no such object")
        return
    kinds = [(kind, getattr(report, kind)) for kind in ("missing", "extra", "different", "changing")]
    found = ", ".join(f"{len(keys)} {kind}" for kind, keys in kinds if keys)
    mark = "equal    " if report.ok else "DIFFERENT"
    click.echo(f"{mark} {address} {report.table} -> {report.destination}: {counts}" + (f"; {found}" if found else ""))
    for kind, keys in kinds:
        if keys:
            shown = ", ".join(json.dumps(report.describe_key(key)) for key in keys[:EXAMPLES])
            click.echo(f"    {kind}: {shown}{' ...' if len(keys) > EXAMPLES else ''}")
    if report.repaired is not None:
        click.echo(f"    repaired: {report.repaired['written']} written, {report.repaired['deleted']} deleted from "
                   f"the source's values; {'now equal' if report.ok else 'still different'}")


class VerifyBar(VerifyProgress):
    """One line per object, redrawn in place: how many source rows (keys) are compared."""

    def __init__(self) -> None:
        self._lines = LiveLines()
        self._name = ""
        self._estimated = 0
        self._done = 0

    def object_started(self, name: str, estimated: int) -> None:
        self._name, self._estimated, self._done = name, estimated, 0
        self._draw()

    def advanced(self, count: int) -> None:
        self._done += count
        self._draw()

    def finish(self) -> None:
        self._lines.show([])

    def _draw(self) -> None:
        share = min(self._done / self._estimated, 1.0) if self._estimated else 0.0
        bar = "#" * round(share * BAR_WIDTH)
        self._lines.show([f"  verifying {self._name}  [{bar.ljust(BAR_WIDTH)}] {share:4.0%}  "
                          f"{self._done} of ~{self._estimated}"])
