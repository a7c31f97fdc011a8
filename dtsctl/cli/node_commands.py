"""`dtsctl node run` and `dtsctl node list`: the hosts of the cluster runtime (docs/cluster.md)."""

from __future__ import annotations

import logging
import signal
import socket
from pathlib import Path
from typing import Any

import click

from dtsctl.cli.context import CliContext, pass_context
from dtsctl.errors import DtsError


def _settings(cli: CliContext, endpoints: tuple[str, ...], prefix: str | None, username: str | None) -> Any:
    """The etcd connection: the options, else the runtime this workspace's last apply recorded."""
    from pydantic import ValidationError

    from dtsctl.config.model import Runtime
    from dtsctl.orchestrate.backend import recorded_runtime

    recorded = recorded_runtime(cli.runtime()) or {}
    values = {**recorded, "backend": "etcd"}
    if endpoints:
        values["endpoints"] = [url for option in endpoints for url in option.split(",") if url]
    if prefix:
        values["prefix"] = prefix
    if username:
        values["username"] = username
    if not values.get("endpoints"):
        raise DtsError("no etcd endpoints: pass --endpoints (or DTSCTL_ETCD_ENDPOINTS), or run in a workspace "
                       "whose `workspace.runtime` names them")
    try:
        return Runtime.model_validate(values)
    except ValidationError as exc:
        raise DtsError("; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())) from exc


def _etcd_options(command: Any) -> Any:
    command = click.option("--username", envvar="DTSCTL_ETCD_USERNAME", metavar="USER",
                           help="etcd user (its password from DTSCTL_ETCD_PASSWORD).")(command)
    command = click.option("--prefix", envvar="DTSCTL_ETCD_PREFIX", metavar="KEY",
                           help="The workspace's key prefix (default: the workspace's, else /dtsctl).")(command)
    return click.option("--endpoints", envvar="DTSCTL_ETCD_ENDPOINTS", multiple=True, metavar="URLS",
                        help="etcd client URLs, comma-separated or repeated (default: the workspace's).")(command)


@click.group()
def node() -> None:
    """Hosts of the cluster runtime: run one, list them."""


@node.command("run")
@click.option("--slots", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="How many tasks this host runs at most.")
@click.option("--name", default=None, help="This node's unique name (default: the host name).")
@click.option("--secrets", "secrets_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="DTSCTL_SECRETS_FILE", help="YAML file of secret NAME: value (also DTSCTL_SECRET_<NAME>).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the node keeps its agents' files (default: .dtsctl-node/NAME).")
@_etcd_options
@pass_context
def run(cli: CliContext, slots: int, name: str | None, secrets_file: Path | None, data_dir: Path | None,
        endpoints: tuple[str, ...], prefix: str | None, username: str | None) -> None:
    """Run this host's agents until SIGTERM: claim tasks, run them, hand them back on exit."""
    import os

    from dtsctl.cluster.node import Node
    from dtsctl.cluster.secrets import SecretSource
    from dtsctl.cluster.store import EtcdStore
    from dtsctl.engine.subscription.nats_link import PASSWORD_ENV, TOKEN_ENV

    settings = _settings(cli, endpoints, prefix, username)
    name = name or socket.gethostname()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s node {name} %(levelname)s %(message)s")
    secrets = SecretSource(secrets_file)
    secrets.export({"nats.password": PASSWORD_ENV, "nats.token": TOKEN_ENV}, os.environ)  # for its agents
    the_node = Node(EtcdStore(settings), name, slots, (data_dir or cli.root / ".dtsctl-node" / name).resolve(),
                    secrets, settings.lease_seconds)

    def stop(_signum: int, _frame: object) -> None:
        the_node.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    the_node.run()


@node.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print {\"nodes\": [...]} as JSON.")
@_etcd_options
@pass_context
def list_nodes(cli: CliContext, as_json: bool, endpoints: tuple[str, ...], prefix: str | None,
               username: str | None) -> None:
    """The live nodes: host, slots, and the tasks each one owns."""
    import json

    from dtsctl.cluster.keys import read_nodes, read_tasks
    from dtsctl.cluster.store import EtcdStore

    store = EtcdStore(_settings(cli, endpoints, prefix, username))
    owned: dict[str, list[str]] = {}
    for entries in read_tasks(store).values():
        if entries.owner is not None:
            owned.setdefault((entries.value("owner") or {}).get("node", ""), []).append(entries.address)
    nodes = [{"name": name, "host": (entry.value or {}).get("host"), "slots": (entry.value or {}).get("slots"),
              "tasks": sorted(owned.get(name, []))} for name, entry in sorted(read_nodes(store).items())]
    if as_json:
        click.echo(json.dumps({"nodes": nodes}, indent=2))
        return
    if not nodes:
        click.echo("No node is running. Start `dtsctl node run` on a host.")
        return
    rows = [("NAME", "HOST", "SLOTS", "USED", "TASKS")]
    rows += [(n["name"], str(n["host"]), str(n["slots"]), str(len(n["tasks"])), ", ".join(n["tasks"]) or "-")
             for n in nodes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
