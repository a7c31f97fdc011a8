"""state list/show/rm/mv, force-unlock, output: the state file, edited without touching agents."""

from __future__ import annotations

import json

import click

from dtsctl.cli.context import CliContext, lock_timeout_option, pass_context, state_option, var_options
from dtsctl.errors import DtsError
from dtsctl.orchestrate.outputs import current_outputs
from dtsctl.runtime.agent_control import Agent


@click.group("state")
def state_group() -> None:
    """Inspect or edit the state file (agents are not touched)."""


@state_group.command("list")
@state_option
@pass_context
def state_list(cli: CliContext) -> None:
    """Every address in the state."""
    for record in cli.state_file().read().resources:
        click.echo(record.address)


@state_group.command("show")
@click.argument("address")
@state_option
@pass_context
def state_show(cli: CliContext, address: str) -> None:
    """One resource as recorded (secrets shown as (sensitive value))."""
    record = cli.state_file().read().get(address)
    if record is None:
        raise DtsError(f"{address} is not in the state; see `dtsctl state list`")
    shown = {**record.to_json(), "attributes": record.display_attributes()}
    shown.pop("salt", None)
    click.echo(json.dumps(shown, indent=2, sort_keys=True))


@state_group.command("rm")
@click.argument("address")
@lock_timeout_option
@state_option
@pass_context
def state_rm(cli: CliContext, address: str, lock_timeout: float) -> None:
    """Forget a resource; its agent keeps running, unmanaged."""
    state_file = cli.state_file()
    with state_file.lock("state rm", timeout=lock_timeout):
        state = state_file.read()
        if state.get(address) is None:
            raise DtsError(f"{address} is not in the state; see `dtsctl state list`")
        state.remove(address)
        state_file.write(state)
    click.echo(f"Removed {address} from the state. Its agent, if any, keeps running unmanaged.")


@state_group.command("mv")
@click.argument("source")
@click.argument("destination")
@lock_timeout_option
@state_option
@pass_context
def state_mv(cli: CliContext, source: str, destination: str, lock_timeout: float) -> None:
    """Record a resource under a new address (after a rename in the declaration), keeping its task."""
    state_file = cli.state_file()
    runtime = cli.runtime()
    with state_file.lock("state mv", timeout=lock_timeout):
        state = state_file.read()
        record = state.get(source)
        if record is None:
            raise DtsError(f"{source} is not in the state; see `dtsctl state list`")
        if state.get(destination) is not None:
            raise DtsError(f"{destination} is already in the state; remove or move it first")
        old_agent, new_agent = Agent(runtime, source), Agent(runtime, destination)
        if new_agent.exists:
            raise DtsError(f"the runtime already has an agent for {destination}; destroy it first")
        if old_agent.exists:
            _move_agent(old_agent, new_agent, record.task_id)
        state.remove(source)
        record.address = destination
        record.name = destination.rsplit(".", 1)[-1]
        state.put(record)
        state_file.write(state)
    click.echo(f"Moved {source} to {destination}.")


def _move_agent(old: Agent, new: Agent, task_id: str) -> None:
    """The runtime directory follows the address; a running agent is restarted under its new name."""
    was = old.desired
    old.stop("stopped")
    old.paths.root.rename(new.paths.root)
    config = new.config()
    new.write_config(task_id, config["attributes"], config.get("sensitive_paths", ()))
    if was == "running":
        new.start()
    else:
        new.set_desired(was)


@click.command("force-unlock")
@click.argument("lock_id")
@state_option
@pass_context
def force_unlock(cli: CliContext, lock_id: str) -> None:
    """Remove a stale state lock left by a command that died."""
    cli.state_file().force_unlock(lock_id)
    click.echo(f"Lock {lock_id} removed.")


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@var_options
@state_option
@pass_context
def output(cli: CliContext, name: str | None, as_json: bool) -> None:
    """The declared outputs, evaluated now (sensitive ones hidden)."""
    outputs = current_outputs(cli.workspace(), cli.runtime())
    if name is not None:
        if name not in outputs:
            raise DtsError(f"no output named {name}; declared outputs: {', '.join(sorted(outputs)) or 'none'}")
        outputs = {name: outputs[name]}
    shown = {key: ("(sensitive value)" if value.sensitive else value.value) for key, value in outputs.items()}
    if as_json:
        click.echo(json.dumps(shown if name is None else shown[name], indent=2))
    elif name is not None:
        value = shown[name]
        click.echo(value if isinstance(value, str) else json.dumps(value))
    else:
        for key, value in sorted(shown.items()):
            click.echo(f"{key} = {json.dumps(value)}")
