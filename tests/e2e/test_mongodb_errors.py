"""MongoDB failures through the CLI: each one line in the user's words, exit 1, no traceback,
no driver type name and never the password (connectors/mongodb/client.py decides the words)."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.cli import Workspace
from tests.e2e.test_mongodb_cli import seed
from tests.servers.mongodb import NxMongoServer
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


def two_endpoints(source: str, destination: str) -> str:
    return f"""
        endpoints:
          src: {source}
          dst: {destination}
        tasks:
          copy: {{type: migration, source: src, destination: dst, objects: [{{database: shop}}], phases: [schema, full]}}
        """


def test_a_wrong_password_an_unreachable_host_and_a_bad_uri_are_refused_in_words(
        workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    reachable = f"{{engine: mongodb, host: 127.0.0.1, port: {dst.port}}}"
    workspace.write("main.dts.yaml", two_endpoints(
        f"{{engine: mongodb, host: 127.0.0.1, port: {src.port}, user: bob, password: {PASSWORD}}}", reachable))
    refused(workspace.run("precheck", check=False), f"cannot connect to MongoDB at 127.0.0.1:{src.port}",
            "user, password and auth_database")

    closed = free_port()  # the uri's own timeout is used, so this fails in half a second
    workspace.write("main.dts.yaml", two_endpoints(
        f'{{engine: mongodb, uri: "mongodb://127.0.0.1:{closed}/?serverSelectionTimeoutMS=500"}}', reachable))
    refused(workspace.run("precheck", check=False), f"cannot connect to MongoDB at 127.0.0.1:{closed}",
            "check that it runs")

    for uri in (f"mongodb://bob:{PASSWORD}@127.0.0.1:{src.port}:9/?x",
                f"mongodb://bob:{PASSWORD}@127.0.0.1/?noSuchOption=1"):
        workspace.write("main.dts.yaml", two_endpoints(f'{{engine: mongodb, uri: "{uri}"}}', reachable))
        refused(workspace.run("precheck", check=False), "the uri of the MongoDB endpoint is not valid",
                "mongodb://user:password@host:port/")


def test_verify_against_a_vanished_destination_says_which_server_is_gone_and_destroy_completes(
        workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    seed(src.client(), 10)
    workspace.write("main.dts.yaml", two_endpoints(  # the uri's own timeout is used: verify fails in half a second
        f"{{engine: mongodb, host: 127.0.0.1, port: {src.port}}}",
        f'{{engine: mongodb, uri: "mongodb://127.0.0.1:{dst.port}/?directConnection=true&serverSelectionTimeoutMS=500"}}'))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--timeout", "60")
    dst.close()
    refused(workspace.run("verify", "task.copy", check=False),
            f"cannot verify against MongoDB at 127.0.0.1:{dst.port}", "check that it runs")
    destroyed = workspace.run("destroy", "--auto-approve")  # a server that is gone holds nothing to remove
    assert "Traceback" not in destroyed.stderr and workspace.run("state", "list").stdout == ""
