"""plan, apply, destroy, show: the declarative cycle."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dtsctl.cli.context import CliContext, lock_timeout_option, pass_context, state_option, var_options
from dtsctl.config import Workspace
from dtsctl.errors import DtsError
from dtsctl.orchestrate.settings import record_settings
from dtsctl.orchestrate.outputs import record_outputs
from dtsctl.orchestrate.refresh import observe
from dtsctl.plan import Plan, check_saved_plan, load_plan, make_plan, plan_to_json, render_plan, save_plan
from dtsctl.state import State, StateFile

if TYPE_CHECKING:
    from dtsctl.orchestrate.apply import Outcome


def _make_plan(cli: CliContext, workspace: Workspace, state: State, *, targets: tuple[str, ...],
               destroy: bool, refresh: bool = True) -> Plan:
    observed = observe(cli.runtime(), state) if refresh else None
    return make_plan(workspace.resources, state, observed, targets=targets, destroy=destroy)


def _public_variables(workspace: Workspace) -> dict:
    return {name: value for name, value in workspace.variables.items() if name not in workspace.sensitive_variables}


@click.command()
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan for `dtsctl apply PLANFILE`.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 1 on error, 2 with changes.")
@click.option("--destroy", is_flag=True, help="Plan to destroy every managed task.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Plan only this address (repeatable).")
@click.option("--refresh/--no-refresh", default=True, help="Compare with the running agents (default: yes).")
@var_options
@state_option
@pass_context
def plan(cli: CliContext, out: str | None, as_json: bool, detailed_exitcode: bool, destroy: bool,
         targets: tuple[str, ...], refresh: bool) -> int:
    """Show what apply would do."""
    workspace = cli.workspace()
    state = cli.state_file().read()
    the_plan = _make_plan(cli, workspace, state, targets=targets, destroy=destroy, refresh=refresh)
    if out:
        save_plan(Path(out), the_plan, desired=workspace.resources, variables=_public_variables(workspace))
    if as_json:
        click.echo(json.dumps(plan_to_json(the_plan), indent=2))
    else:
        click.echo(render_plan(the_plan))
        if out:
            click.echo(f"\nSaved the plan to {out}. To carry it out: dtsctl apply {out}")
    return 2 if detailed_exitcode and the_plan.has_changes else 0


def _confirm(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise DtsError("not on a terminal, so no one can confirm; re-run with --auto-approve")
    answer = click.prompt(f"\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value", default="",
                          show_default=False)
    if answer.strip() != "yes":
        raise DtsError("cancelled: the answer was not 'yes'; nothing was changed")


def _summarise(outcomes: list[Outcome], verb: str) -> int:
    failures = [o for o in outcomes if not o.ok]
    added = sum(o.action in ("create", "replace") for o in outcomes if o.ok)
    changed = sum(o.action in ("update", "cutover") for o in outcomes if o.ok)
    destroyed = sum(o.action in ("delete", "replace") for o in outcomes if o.ok)
    if failures:
        for failure in failures:
            click.echo(f"Error: {failure.address}: {failure.action} failed: {failure.error}", err=True)
        click.echo(f"\n{verb} incomplete: {added} added, {changed} changed, {destroyed} destroyed, "
                   f"{len(failures)} failed. The state records what was done; fix the error and run it again.")
        return 1
    click.echo(f"\n{verb} complete! Resources: {added} added, {changed} changed, {destroyed} destroyed.")
    return 0


def _run(cli: CliContext, the_plan: Plan, workspace: Workspace, state_file: StateFile, state: State,
         verb: str) -> int:
    from dtsctl.orchestrate.apply import apply_plan  # agents and connectors: only when a plan is carried out
    from dtsctl.orchestrate.backend import check_runtime_switch, recorded_runtime

    desired = {resource.address: resource for resource in workspace.resources}
    check_runtime_switch(bool(state.resources), recorded_runtime(cli.runtime()), workspace.settings.runtime)
    record_settings(workspace.settings, cli.runtime())  # the runtime the tasks are placed on
    outcomes = apply_plan(the_plan, desired, state_file, state, cli.runtime(), report=click.echo)
    if record_outputs(workspace, state, cli.runtime()):
        state_file.write(state)
    return _summarise(outcomes, verb)


def _confirm_and_run(cli: CliContext, the_plan: Plan, workspace: Workspace, state_file: StateFile, state: State,
                     auto_approve: bool, question: str, verb: str) -> int:
    """Show the plan, ask (unless --auto-approve), and carry it out."""
    click.echo(render_plan(the_plan))
    if not the_plan.has_changes:
        record_settings(workspace.settings, cli.runtime())
        return 0
    _confirm(auto_approve, question)
    return _run(cli, the_plan, workspace, state_file, state, verb)


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Apply only this address (repeatable).")
@lock_timeout_option
@var_options
@state_option
@pass_context
def apply(cli: CliContext, planfile: str | None, auto_approve: bool, targets: tuple[str, ...],
          lock_timeout: float) -> int:
    """Start, reconfigure or tear down agents so the replication matches the declaration."""
    state_file = cli.state_file()
    if planfile:
        saved = load_plan(Path(planfile))
        cli.var_args[:0] = [f"{name}={json.dumps(value)}" for name, value in saved.variables.items()]
    elif not auto_approve and not sys.stdin.isatty():
        raise DtsError("not on a terminal, so no one can confirm; re-run with --auto-approve or apply a saved plan")
    workspace = cli.workspace()
    with state_file.lock("apply", timeout=lock_timeout):
        state = state_file.read()
        if planfile:
            check_saved_plan(saved, state, workspace.resources)
            return _run(cli, saved.plan, workspace, state_file, state, "Apply")
        the_plan = _make_plan(cli, workspace, state, targets=targets, destroy=False)
        return _confirm_and_run(cli, the_plan, workspace, state_file, state, auto_approve,
                                "Do you want to perform these actions?", "Apply")


@click.command()
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Destroy only this address (repeatable).")
@lock_timeout_option
@var_options
@state_option
@pass_context
def destroy(cli: CliContext, auto_approve: bool, targets: tuple[str, ...], lock_timeout: float) -> int:
    """Stop and remove every agent; endpoint data stays, only dtsctl's bookkeeping is removed."""
    if not auto_approve and not sys.stdin.isatty():
        raise DtsError("not on a terminal, so no one can confirm; re-run with --auto-approve")
    workspace = cli.workspace()
    state_file = cli.state_file()
    with state_file.lock("destroy", timeout=lock_timeout):
        state = state_file.read()
        the_plan = _make_plan(cli, workspace, state, targets=targets, destroy=True, refresh=False)
        return _confirm_and_run(cli, the_plan, workspace, state_file, state, auto_approve,
                                "Do you really want to destroy these tasks? Data on the endpoints is kept.", "Destroy")


@click.command()
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@state_option
@pass_context
def show(cli: CliContext, planfile: str | None, as_json: bool) -> None:
    """Show the state, or a saved plan."""
    if planfile:
        saved = load_plan(Path(planfile))
        click.echo(json.dumps(plan_to_json(saved.plan), indent=2) if as_json else render_plan(saved.plan))
        return
    state = cli.state_file().read()
    if as_json:
        click.echo(json.dumps(state.display_json(), indent=2, sort_keys=True))
        return
    if not state.resources:
        click.echo("The state is empty: nothing is managed yet.")
        return
    for record in state.resources:
        click.echo(f"# {record.address}  (task id {record.task_id})")
        click.echo(json.dumps(record.display_attributes(), indent=2, sort_keys=True))
    if state.outputs:
        click.echo("\nOutputs:")
        for name, value in sorted(state.outputs.items()):
            click.echo(f"  {name} = {json.dumps(value)}")
