"""Write docs/commands.md from the CLI's own --help, so the reference cannot drift.

Run: .venv/bin/python scripts/cli_reference.py   (tests/unit/test_cli_reference.py checks it is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dtsctl.cli.main import cli

INTRO = """# Command reference

Generated from `dtsctl --help` by `scripts/cli_reference.py`; do not edit by hand.

Exit codes: 0 success; 1 error (one line on stderr saying what is wrong and what
to do; `--debug` or `DTSCTL_DEBUG=1` adds the traceback); `plan
--detailed-exitcode`: 0 no changes, 2 changes present; `fmt --check`: 3 when a
file would change; `verify`: 4 when the ends differ (with `--repair`: when
something still differs after the repair). Commands that write the state take its
lock and fail at once when another command holds it, or wait up to `--lock-timeout`
seconds.

Additions to the contract (issue 16):

- `verify --json`: `{"equal": bool, "tables": [{"address", "table", "destination",
  "equal", "source_count", "destination_count", "missing", "extra", "different",
  "changing", "repaired"}]}`; each of `missing`/`extra`/`different`/`changing` is
  `{"count": n, "examples": [up to 10 keys]}` (a row key as `{"column": value}`, a
  Redis key as text); `changing`: keys whose source value kept changing through
  every re-check (not compared); `repaired`: `{"written": n, "deleted": n}` with
  `--repair`, else null.
- `plan --json`: the action `["cutover"]`, and on such a change a `cutover` object
  `{"steps": [...], "creates": reverse task address or null}`.
- `status --json`: `verify`, the last result of the verification a task declares
  (`{"finished_at", "trigger": "after_full" | "schedule", "equal", "differences",
  "tables"}`, or `{"finished_at", "trigger", "error"}`), present once one ran.
- Task fields `cutover` and `verify` (docs/declaration.md).
"""


def _sections(command: click.Command, path: list[str]) -> list[str]:
    with click.Context(command, info_name=" ".join(path)) as ctx:
        text = command.get_help(ctx)
    sections = [f"## `{' '.join(path)}`\n\n```text\n{text}\n```\n"]
    if isinstance(command, click.Group):
        with click.Context(command, info_name=" ".join(path)) as ctx:
            for name in command.list_commands(ctx):
                sections += _sections(command.get_command(ctx, name), [*path, name])
    return sections


def render() -> str:
    return INTRO + "\n" + "\n".join(_sections(cli, ["dtsctl"]))


def main() -> int:
    target = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
    target.write_text(render())
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
