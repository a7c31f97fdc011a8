"""What every command needs: the workspace, its state file, its runtime directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dtsctl.runtime.layout import RuntimePaths, runtime_dir
from dtsctl.state import StateFile

if TYPE_CHECKING:
    from dtsctl.config import Workspace

DEFAULT_STATE = Path("state") / "dtsctl.state.json"


@dataclass
class CliContext:
    root: Path
    debug: bool = False
    state_override: Path | None = None
    var_files: list[Path] = field(default_factory=list)
    var_args: list[str] = field(default_factory=list)

    @property
    def state_path(self) -> Path:
        return self.state_override or self.root / DEFAULT_STATE

    def state_file(self) -> StateFile:
        return StateFile(self.state_path)

    def runtime(self) -> RuntimePaths:
        return RuntimePaths(runtime_dir(self.root))

    def workspace(self) -> Workspace:
        from dtsctl.config import load_workspace  # the declaration layer (pydantic, templating) only when read

        return load_workspace(self.root, self.var_files, self.var_args, os.environ)


pass_context = click.make_pass_decorator(CliContext)


def matches_address(address: str, selector: str | None) -> bool:
    """Whether an ADDRESS argument selects `address`: itself, anything under it, or everything when absent."""
    return selector is None or address == selector or address.startswith(selector + ".")


def var_options(command: click.Command) -> click.Command:
    """--var and --var-file, for commands that read the declaration."""

    def remember(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> None:
        cli: CliContext = ctx.ensure_object(CliContext)
        if param.name == "var":
            cli.var_args.extend(values)
        else:
            cli.var_files.extend(Path(value) for value in values)

    command = click.option("--var", multiple=True, metavar="NAME=VALUE", expose_value=False, callback=remember,
                           help="Set a variable (repeatable).")(command)
    return click.option("--var-file", multiple=True, metavar="FILE", expose_value=False, callback=remember,
                        type=click.Path(exists=True, dir_okay=False), help="Read variables from a YAML file.")(command)


def state_option(command: click.Command) -> click.Command:
    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(CliContext).state_override = Path(value).resolve()

    return click.option("--state", metavar="PATH", expose_value=False, callback=remember,
                        help="State file (default: state/dtsctl.state.json).")(command)


def lock_timeout_option(command: click.Command) -> click.Command:
    return click.option("--lock-timeout", type=float, default=0.0, show_default=True, metavar="SECONDS",
                        help="Wait this long for a state lock held by another command.")(command)
