"""Commands on the declaration itself: init, validate, fmt."""

from __future__ import annotations

import difflib
import json

import click

from dtsctl.cli.context import CliContext, pass_context, var_options
from dtsctl.config import format_yaml
from dtsctl.errors import DtsError, ValidationFailed

GITIGNORE_STATE = "# dtsctl state holds task ids and hashes, never commit it\n*\n!.gitignore\n"


@click.command()
@var_options
@pass_context
def init(cli: CliContext) -> None:
    """Check the workspace, resolve modules, create state/ and .dtsctl/ (safe to re-run)."""
    workspace = cli.workspace()
    state_dir = cli.state_path.parent
    state_dir.mkdir(parents=True, exist_ok=True)
    ignore = state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE_STATE)
    runtime = cli.runtime().root
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / ".gitignore").write_text("*\n")
    click.echo(f"Initialized {workspace.root}: {len(workspace.files)} declaration file(s), "
               f"{len(workspace.resources)} task(s). State: {cli.state_path}. Runtime: {runtime}.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@var_options
@pass_context
def validate(cli: CliContext, as_json: bool) -> int:
    """Check the declaration offline; every problem is listed as file:line: message."""
    try:
        workspace = cli.workspace()
    except ValidationFailed as failure:
        if as_json:
            click.echo(json.dumps({"valid": False, "problems": failure.problems}, indent=2))
            return 1
        raise
    if as_json:
        click.echo(json.dumps({"valid": True, "problems": [], "tasks": [r.address for r in workspace.resources]}, indent=2))
    else:
        click.echo(f"Success! The declaration is valid ({len(workspace.resources)} task(s)).")
    return 0


@click.command()
@click.option("--check", is_flag=True, help="Exit 3 if any file is not in canonical form; change nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="Show the changes as a unified diff.")
@pass_context
def fmt(cli: CliContext, check: bool, show_diff: bool) -> int:
    """Rewrite *.dts.yaml files in canonical form."""
    files = sorted(cli.root.glob("*.dts.yaml")) + sorted(cli.root.glob("*.dtsvars.yaml"))
    if not files:
        raise DtsError(f"no *.dts.yaml files in {cli.root}; run dtsctl in a workspace or pass -C DIR")
    changed = []
    for path in files:
        original = path.read_text()
        try:
            formatted = format_yaml(original)
        except DtsError as error:
            raise DtsError(f"{path.name}: {error.message}") from error
        if formatted == original:
            continue
        changed.append(path.name)
        if show_diff:
            click.echo("".join(difflib.unified_diff(original.splitlines(True), formatted.splitlines(True),
                                                    f"a/{path.name}", f"b/{path.name}")), nl=False)
        if not check:
            path.write_text(formatted)
    for name in changed:
        click.echo(name)
    return 3 if check and changed else 0
