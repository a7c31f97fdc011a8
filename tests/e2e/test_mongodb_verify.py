"""MongoDB verify and --repair through the dtsctl CLI, against private nx-27017 servers, while the task runs."""

from __future__ import annotations

import json

import pytest

from tests.e2e.cli import Workspace
from tests.e2e.test_mongodb_cli import declaration, seed, wait_same, writes

pytestmark = pytest.mark.e2e

ONE_COLLECTION = "[{database: shop, collections: [orders]}]"


def start(workspace: Workspace, src, dst) -> None:
    workspace.write("main.dts.yaml", declaration(src, dst, objects=ONE_COLLECTION))
    workspace.run("apply", "--auto-approve")
    workspace.run("wait", "task.copy", "--phase", "incremental", "--timeout", "60")


def test_verify_finds_corrupted_documents_and_repair_makes_them_equal(workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    source, destination = src.client(), dst.client()
    seed(source, 300)
    start(workspace, src, dst)
    wait_same(source, destination, ("shop", "orders", "shop", "orders"))
    destination.shop.orders.delete_one({"_id": "o000001"})  # missing
    destination.shop.orders.insert_one({"_id": "zz-extra", "n": -1})  # extra
    destination.shop.orders.update_one({"_id": "o000002"}, {"$set": {"total": 0}})  # different
    found = workspace.run("verify", "task.copy", "--json", check=False)
    assert found.returncode == 4, found.stdout + found.stderr
    table = json.loads(found.stdout)["tables"][0]
    assert [table[kind]["count"] for kind in ("missing", "extra", "different")] == [1, 1, 1], table
    assert (table["missing"]["examples"], table["extra"]["examples"], table["different"]["examples"]) == (
        [{"_id": '"o000001"'}], [{"_id": '"zz-extra"'}], [{"_id": '"o000002"'}]), table
    assert destination.shop.orders.find_one({"_id": "zz-extra"}) is not None, "verify alone writes nothing"
    repaired = json.loads(workspace.run("verify", "task.copy", "--json", "--repair").stdout)
    assert repaired["equal"] is True and repaired["tables"][0]["repaired"] == {"written": 2, "deleted": 1}, repaired
    assert destination.shop.orders.find_one({"_id": "o000002"}) == source.shop.orders.find_one({"_id": "o000002"})
    assert destination.shop.orders.find_one({"_id": "zz-extra"}) is None
    assert json.loads(workspace.run("verify", "task.copy", "--json").stdout)["equal"] is True


def test_verify_under_writes_reports_nothing(workspace: Workspace, mongodb_pair) -> None:
    src, dst = mongodb_pair
    source = src.client()
    seed(source, 300)
    start(workspace, src, dst)
    with writes(source, "shop", "orders") as written:
        before = written["n"]
        verified = workspace.run("verify", "task.copy", "--json", check=False)
        assert written["n"] > before, "the writer ran during verify"
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["equal"] is True
