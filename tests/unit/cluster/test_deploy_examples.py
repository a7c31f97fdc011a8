"""The shipped Kubernetes manifests (docs/cluster.md) are valid resources, checked strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="install kubernetes-validate (the test extras)")

EXAMPLES = Path(__file__).parents[3] / "examples" / "cluster"


@pytest.mark.parametrize("manifest", ["etcd.yaml", "nats.yaml", "dtsctl-node.yaml"])
def test_the_manifest_is_a_valid_kubernetes_resource(manifest: str) -> None:
    documents = [document for document in yaml.safe_load_all((EXAMPLES / manifest).read_text()) if document]
    assert {document["kind"] for document in documents} == {"Service", "StatefulSet"}
    for document in documents:
        kubernetes_validate.validate(document, "1.30.0", strict=True)


def test_the_node_statefulset_runs_dtsctl_node_run_against_the_etcd_statefulset() -> None:
    node = [d for d in yaml.safe_load_all((EXAMPLES / "dtsctl-node.yaml").read_text()) if d["kind"] == "StatefulSet"][0]
    container = node["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert container["args"][2:4] == ["node", "run"]
    assert env["DTSCTL_ETCD_ENDPOINTS"].split(",") == [f"http://etcd-{i}.etcd:2379" for i in range(3)]


def test_the_example_workspace_validates_offline() -> None:
    from dtsctl.config import load_workspace

    workspace = load_workspace(EXAMPLES, environ={})
    assert workspace.settings.runtime.backend == "etcd"
    assert [resource.address for resource in workspace.resources] == ["task.orders_to_reporting", "task.orders_cdc"]
    assert workspace.settings.runtime.subscriptions.nats[0] == "nats://nats-0.nats:4222"
