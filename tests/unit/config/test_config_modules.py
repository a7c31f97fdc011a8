"""Modules: sources, inputs, endpoints from the caller, address prefixes, outputs."""

from __future__ import annotations

from pathlib import Path

from dtsctl.config.modsource import SHIPPED_MODULES

COPY_MODULE = """
variables:
  from: {type: string}
  to: {type: string}
  table: {default: orders}
tasks:
  copy:
    type: synchronization
    source: ${ var.from }
    destination: ${ var.to }
    objects: [{database: main, tables: ["${ var.table }"]}]
outputs:
  address: ${ task.copy.address }
  lag: ${ task.copy.lag_seconds }
"""

ROOT = """
endpoints:
  a: {engine: sqlite, path: ./a.db}
  b: {engine: sqlite, path: ./b.db}
modules:
  orders:
    source: ./mods/copy
    inputs: {from: a, to: b}
outputs:
  where: ${ module.orders.address }
  lag: ${ module.orders.lag }
"""


def test_module_tasks_are_prefixed_and_use_caller_endpoints(write, load, tmp_path: Path) -> None:
    root = write({"main.dts.yaml": ROOT, "mods/copy/main.dts.yaml": COPY_MODULE})
    [task] = load(root).resources
    assert task.address == "module.orders.task.copy"
    assert task.attributes["source_endpoint"]["path"] == str(tmp_path / "a.db")
    assert task.attributes["objects"][0]["tables"] == ["orders"]
    assert (task.file, task.line) == ("mods/copy/main.dts.yaml", 6)


def test_module_outputs_reach_the_caller_with_live_values(write, load) -> None:
    root = write({"main.dts.yaml": ROOT, "mods/copy/main.dts.yaml": COPY_MODULE})
    outputs = load(root).evaluate_outputs({"module.orders.task.copy": {"lag_seconds": 1.5}})
    assert outputs["where"].value == "module.orders.task.copy"
    assert outputs["lag"].value == 1.5


def test_nested_modules_prefix_every_level(write, load) -> None:
    outer = """
    modules:
      inner:
        source: ../copy
        inputs: {from: a, to: b}
    """
    root = write(
        {
            "main.dts.yaml": ROOT.replace("./mods/copy", "./mods/outer").replace("inputs: {from: a, to: b}", "inputs: {}").split("outputs:")[0],
            "mods/outer/main.dts.yaml": outer,
            "mods/copy/main.dts.yaml": COPY_MODULE,
        }
    )
    assert [r.address for r in load(root).resources] == ["module.orders.module.inner.task.copy"]


def test_module_endpoint_shadows_caller_endpoint(write, load, tmp_path: Path) -> None:
    module = COPY_MODULE + "endpoints:\n  b: {engine: sqlite, path: ./own.db}\n"
    root = write({"main.dts.yaml": ROOT, "mods/copy/main.dts.yaml": module})
    [task] = load(root).resources
    assert task.attributes["destination_endpoint"]["path"] == str(tmp_path / "mods/copy/own.db")


def test_unknown_input_is_reported_at_the_input(write, problems) -> None:
    root = write({"main.dts.yaml": ROOT.replace("{from: a, to: b}", "{from: a, to: b, tabel: x}"), "mods/copy/main.dts.yaml": COPY_MODULE})
    assert problems(root) == ["main.dts.yaml:7: module.orders has no input `tabel`; it takes ['from', 'table', 'to']"]


def test_missing_required_input_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": ROOT.replace("{from: a, to: b}", "{from: a}"), "mods/copy/main.dts.yaml": COPY_MODULE})
    [problem, *_] = problems(root)
    assert problem == "mods/copy/main.dts.yaml:3: variable `to` is required but not set; set it in `inputs` of module `orders` at main.dts.yaml:5"


def test_unknown_module_source_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": ROOT.replace("./mods/copy", "./mods/nope")})
    [problem, *_] = problems(root)
    assert problem.startswith("main.dts.yaml:6: module source `./mods/nope` not found")


def test_unknown_module_output_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": ROOT.replace("module.orders.lag", "module.orders.lagg"), "mods/copy/main.dts.yaml": COPY_MODULE})
    assert problems(root) == ["main.dts.yaml:10: output.lag: `module.orders` has no output `lagg`"]


def test_module_found_by_name_on_module_path(write, load, tmp_path: Path) -> None:
    root = write({"main.dts.yaml": ROOT.replace("./mods/copy", "copy"), "lib/copy/main.dts.yaml": COPY_MODULE})
    workspace = load(root, environ={"DTSCTL_MODULE_PATH": str(tmp_path / "lib")})
    assert [r.address for r in workspace.resources] == ["module.orders.task.copy"]


def test_shipped_one_way_sync_module_validates(write, load) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              shop: {engine: sqlite, path: ./shop.db}
              lake: {engine: sqlite, path: ./lake.db}
            modules:
              orders:
                source: one-way-sync
                inputs: {source: shop, destination: lake, tables: [orders, customers]}
            outputs:
              task: ${ module.orders.task }
            """
        }
    )
    workspace = load(root)
    [task] = workspace.resources
    assert task.address == "module.orders.task.sync"
    assert task.attributes["objects"][0]["tables"] == ["orders", "customers"]
    assert workspace.evaluate_outputs({})["task"].value == "module.orders.task.sync"


def test_shipped_one_way_sync_example_validates(load) -> None:
    workspace = load(SHIPPED_MODULES.parent / "examples" / "reporting")
    assert [r.address for r in workspace.resources] == ["module.orders.task.sync"]


def test_shipped_sqlite_fanout_module_validates(write, load) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              main: {engine: sqlite, path: ./main.db}
              edge1: {engine: sqlite, path: ./edge1.db}
              edge2: {engine: sqlite, path: ./edge2.db}
            modules:
              edges:
                source: sqlite-fanout
                inputs: {source: main, replicas: [edge1, edge2]}
            """
        }
    )
    tasks = load(root).resources
    assert [t.address for t in tasks] == ["module.edges.topology.fanout.task.edge1", "module.edges.topology.fanout.task.edge2"]
    assert tasks[0].attributes["objects"][0]["all"] is True
