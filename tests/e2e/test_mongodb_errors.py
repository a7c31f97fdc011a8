"""MongoDB failures through the CLI: each one line in the user's words, exit 1, no traceback,
no driver type name and never the password (connectors/mongodb/client.py decides the words)."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.cli import Workspace
from tests.servers.ports import free_port

pytestmark = pytest.mark.e2e

PASSWORD = "s3cret-Pa55"


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The output of a command that failed in words; asserts each of `expected` is in it."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for text in ("Traceback", "KeyError", "OperationFailure", "ServerSelectionTimeoutError", "pymongo", PASSWORD):
        assert text not in output, output
    for text in expected:
        assert text in output, output
    return output


def task(name: str, source: str, destination: str) -> tuple[str, str]:
    """(its endpoints, its task) as lines of a declaration."""
    return (f"\n  {name}_src: {source}\n  {name}_dst: {destination}",
            f"\n  {name}: {{type: migration, source: {name}_src, destination: {name}_dst, objects: [{{database: {name}}}], "
            "phases: [schema, full]}")


def declaration(*tasks: tuple[str, str]) -> str:
    return "endpoints:" + "".join(endpoints for endpoints, _ in tasks) + "\ntasks:" + "".join(
        declared for _, declared in tasks) + "\n"


def test_a_wrong_password_an_unreachable_host_and_bad_uris_are_each_refused_in_words_at_once(
        workspace: Workspace, mongodb_pair) -> None:
    """One precheck names every problem, each task its own line."""
    src, dst = mongodb_pair
    reachable = f"{{engine: mongodb, host: 127.0.0.1, port: {dst.port}}}"
    closed = free_port()  # the uri's own timeout is used, so this fails in half a second
    workspace.write("main.dts.yaml", declaration(
        task("password", f"{{engine: mongodb, host: 127.0.0.1, port: {src.port}, user: bob, password: {PASSWORD}}}",
             reachable),
        task("unreachable", f'{{engine: mongodb, uri: "mongodb://127.0.0.1:{closed}/?serverSelectionTimeoutMS=500"}}',
             reachable),
        task("malformed", f'{{engine: mongodb, uri: "mongodb://bob:{PASSWORD}@127.0.0.1:{src.port}:9/?x"}}', reachable),
        task("unknown", f'{{engine: mongodb, uri: "mongodb://bob:{PASSWORD}@127.0.0.1/?noSuchOption=1"}}', reachable)))
    output = refused(workspace.run("precheck", check=False), f"cannot connect to MongoDB at 127.0.0.1:{src.port}",
                     "user, password and auth_database", f"cannot connect to MongoDB at 127.0.0.1:{closed}",
                     "check that it runs")
    assert output.count("the uri of the MongoDB endpoint is not valid") == 2, output
    assert output.count("mongodb://user:password@host:port/") == 2, output


def test_verify_against_a_vanished_destination_says_which_server_is_gone_and_destroy_completes(
        workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    src.client().copy.orders.insert_one({"_id": "o1"})
    workspace.write("main.dts.yaml", declaration(task(  # the uri's own timeout is used: verify fails in half a second
        "copy", f"{{engine: mongodb, host: 127.0.0.1, port: {src.port}}}",
        f'{{engine: mongodb, uri: "mongodb://127.0.0.1:{dst.port}/?directConnection=true&serverSelectionTimeoutMS=500"}}')))
    workspace.run("apply", "--auto-approve")
    dst.close()
    refused(workspace.run("verify", "task.copy", check=False),
            f"cannot verify against MongoDB at 127.0.0.1:{dst.port}", "check that it runs")
    destroyed = workspace.run("destroy", "--auto-approve")  # a server that is gone holds nothing to remove
    assert "Traceback" not in destroyed.stderr and workspace.run("state", "list").stdout == ""
