"""precheck, verify: checks that connect to the endpoints themselves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import click

from dtsctl.cli.context import CliContext, matches_address, pass_context, state_option, var_options
from dtsctl.config.resources import DesiredResource
from dtsctl.runtime import lifecycle
from dtsctl.errors import DtsError


def _declared(cli: CliContext, address: str | None) -> Iterator[tuple[DesiredResource, str]]:
    """Declared tasks matching ADDRESS, with their recorded task id (or a placeholder for new ones)."""
    state = cli.state_file().read()
    found = False
    for resource in cli.workspace().resources:
        if matches_address(resource.address, address):
            found = True
            record = state.get(resource.address)
            yield resource, record.task_id if record else "new"
    if address and not found:
        raise DtsError(f"no declared task matches {address}; see `dtsctl validate --json`")


@click.command()
@click.argument("address", required=False)
@var_options
@state_option
@pass_context
def precheck(cli: CliContext, address: str | None) -> int:
    """Run the checks apply runs first: connectivity, privileges, log settings, keys, destination conflicts."""
    failures = 0
    for resource, task_id in _declared(cli, address):
        click.echo(resource.address)
        for check in lifecycle.precheck(resource.attributes, task_id, resource.reads_from):
            mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
            failures += not check.ok and not check.warning
            click.echo(f"  {mark} {check.name}: {check.message}")
    if failures:
        click.echo(f"Error: {failures} check(s) failed; fix them and run `dtsctl precheck` again", err=True)
        return 1
    return 0


@click.command()
@click.argument("address")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@var_options
@state_option
@pass_context
def verify(cli: CliContext, address: str, as_json: bool) -> int:
    """Compare source and destination: row counts and checksums per table."""
    results = []
    for resource, _task_id in _declared(cli, address):
        for comparison in lifecycle.verify(resource.attributes):
            results.append({"address": resource.address, **dataclasses.asdict(comparison), "equal": comparison.ok})
    different = [r for r in results if not r["equal"]]
    if as_json:
        click.echo(json.dumps({"equal": not different, "tables": results}, indent=2))
    else:
        for r in results:
            mark = "equal    " if r["equal"] else "DIFFERENT"
            click.echo(f"{mark} {r['address']} {r['table']} -> {r['destination']}: "
                       f"{r['source_count']} / {r['destination_count']} rows")
    return 1 if different else 0
