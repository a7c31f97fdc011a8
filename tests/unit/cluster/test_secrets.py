"""Secrets in the cluster runtime: references in etcd, values only on the nodes."""

from __future__ import annotations

import json

import pytest

from dtsctl.cluster.secrets import SecretSource, env_name, redact
from dtsctl.errors import DtsError

ATTRIBUTES = {"source": "src", "destination": "dst", "token": "t0ken",
              "source_endpoint": {"engine": "mysql", "host": "h", "password": "s3cret"},
              "destination_endpoint": {"engine": "redis", "sentinel": {"password": "w4tch3r"}, "password": None}}


def test_redacted_attributes_hold_no_secret_and_name_each_by_endpoint() -> None:
    redacted = redact("task.copy", "id-1", ATTRIBUTES, [("token",), ("destination_endpoint", "sentinel", "password")])
    text = json.dumps(redacted)
    assert not any(secret in text for secret in ("s3cret", "w4tch3r", "t0ken"))
    assert redacted["source_endpoint"]["password"]["secret"] == "src.password"
    assert redacted["destination_endpoint"]["sentinel"]["password"]["secret"] == "dst.sentinel.password"
    assert redacted["token"]["secret"] == "task.copy.token"
    assert redacted["destination_endpoint"]["password"] is None


def test_a_node_resolves_from_its_environment_then_its_secret_file(tmp_path) -> None:
    redacted = redact("task.copy", "id-1", ATTRIBUTES, [("token",), ("destination_endpoint", "sentinel", "password")])
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("src.password: s3cret\ndst.sentinel.password: wrong\n")
    source = SecretSource(secrets, {env_name("dst.sentinel.password"): "w4tch3r", env_name("task.copy.token"): "t0ken"})
    assert source.resolve("id-1", redacted) == ATTRIBUTES


def test_a_missing_or_different_secret_is_named_with_where_to_put_it() -> None:
    redacted = redact("task.copy", "id-1", ATTRIBUTES, [("token",)])
    with pytest.raises(DtsError) as failure:
        SecretSource(None, {"DTSCTL_SECRET_SRC_PASSWORD": "old", "DTSCTL_SECRET_TASK_COPY_TOKEN": "t0ken"}).resolve(
            "id-1", redacted)
    assert failure.value.message == (  # every problem at once
        "this node has no secret dst.sentinel.password: set DTSCTL_SECRET_DST_SENTINEL_PASSWORD or add "
        "`dst.sentinel.password` to the node's secret file; this node's secret src.password is not the one the "
        "declaration was applied with: set DTSCTL_SECRET_SRC_PASSWORD or add `src.password` to the node's secret file")
    with pytest.raises(DtsError, match="this node has no secret task.copy.token: set DTSCTL_SECRET_TASK_COPY_TOKEN"):
        SecretSource(None, {"DTSCTL_SECRET_SRC_PASSWORD": "s3cret", "DTSCTL_SECRET_DST_SENTINEL_PASSWORD": "w4tch3r"}
                     ).resolve("id-1", redacted)


def test_the_nats_password_of_the_secret_file_reaches_the_agents_environment_unless_set(tmp_path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("nats.password: from-file\nnats.token: t0k\n")
    names = {"nats.password": "DTSCTL_NATS_PASSWORD", "nats.token": "DTSCTL_NATS_TOKEN"}
    environ = {"DTSCTL_NATS_TOKEN": "from-env"}
    SecretSource(secrets, environ).export(names, environ)
    assert environ == {"DTSCTL_NATS_PASSWORD": "from-file", "DTSCTL_NATS_TOKEN": "from-env"}
    nothing: dict[str, str] = {}
    SecretSource(None, nothing).export(names, nothing)
    assert nothing == {}
