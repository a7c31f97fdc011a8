"""A click group that imports a command's module only when that command is used.

Starting dtsctl must not pay for database drivers, templating or diffing that
the command at hand never touches (`dtsctl --version`, `dtsctl status`), so
the group knows its commands by name and `module:attribute` until one is needed.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """A group whose subcommands are `{name: "package.module:attribute"}`, imported on first use."""

    def __init__(self, *args: object, lazy_commands: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module_name), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)
