"""precheck: the checks apply runs first, against the endpoints themselves."""

from __future__ import annotations

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
