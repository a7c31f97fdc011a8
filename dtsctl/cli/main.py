"""The `dtsctl` command: global options, error handling, and the command registry."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from dtsctl import __version__
from dtsctl.cli.context import CliContext
from dtsctl.cli.lazy import LazyGroup
from dtsctl.errors import DtsError, ValidationFailed

COMMANDS = {
    "init": "dtsctl.cli.workspace_commands:init",
    "validate": "dtsctl.cli.workspace_commands:validate",
    "fmt": "dtsctl.cli.workspace_commands:fmt",
    "plan": "dtsctl.cli.plan_commands:plan",
    "apply": "dtsctl.cli.plan_commands:apply",
    "destroy": "dtsctl.cli.plan_commands:destroy",
    "show": "dtsctl.cli.plan_commands:show",
    "status": "dtsctl.cli.runtime_commands:status",
    "wait": "dtsctl.cli.runtime_commands:wait",
    "logs": "dtsctl.cli.runtime_commands:logs",
    "precheck": "dtsctl.cli.endpoint_commands:precheck",
    "verify": "dtsctl.cli.verify_commands:verify",
    "state": "dtsctl.cli.state_commands:state_group",
    "force-unlock": "dtsctl.cli.state_commands:force_unlock",
    "output": "dtsctl.cli.state_commands:output",
    "consume": "dtsctl.cli.consume_commands:consume",
    "node": "dtsctl.cli.node_commands:node",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", type=click.Path(file_okay=False), default=".", metavar="DIR",
              help="Run as if dtsctl was started in DIR.")
@click.option("--debug", is_flag=True, envvar="DTSCTL_DEBUG", help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="dtsctl")
@click.pass_context
def cli(ctx: click.Context, directory: str, debug: bool) -> None:
    """Declarative data transmission: migration, synchronization and change tracking."""
    root = Path(directory).resolve()
    if not root.is_dir():
        raise DtsError(f"workspace directory {directory} does not exist; check the -C argument")
    os.chdir(root)  # like `git -C`: relative paths in arguments are relative to DIR
    context = ctx.ensure_object(CliContext)
    context.root = root
    context.debug = debug


def main() -> None:
    """Entry point: one line per error on stderr, exit 1, traceback only with --debug."""
    debug = "--debug" in sys.argv or os.environ.get("DTSCTL_DEBUG") not in (None, "", "0")
    try:
        result = cli.main(obj=CliContext(root=Path.cwd()), standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        sys.exit(1)
    except ValidationFailed as failure:
        for problem in failure.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    except DtsError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(1)
    except Exception as error:  # an unexpected failure is still one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {type(error).__name__}: {error} (run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
