"""Topologies expand into addressed tasks, and their rules are checked."""

from __future__ import annotations

MYSQL = """
endpoints:
  bj: {engine: mysql, host: bj}
  sh: {engine: mysql, host: sh}
  gz: {engine: mysql, host: gz}
  cache: {engine: redis, host: r}
"""


def _topology(body: str) -> dict[str, str]:
    return {"main.dts.yaml": MYSQL + "topologies:\n  geo:\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())}


def test_one_way_expands_to_forward(write, load) -> None:
    root = write(_topology("type: one-way\nendpoints: [bj, sh]\nobjects: [{database: shop, all: true}]"))
    [task] = load(root).resources
    assert task.address == "topology.geo.task.forward"
    assert (task.attributes["source"], task.attributes["destination"], task.attributes["type"]) == ("bj", "sh", "synchronization")
    assert task.attributes["topology"] == {"name": "geo", "type": "one-way", "peer": None}
    assert task.attributes["conflict_policy"] == "fail"


def test_one_to_many_names_tasks_after_destinations(write, load) -> None:
    root = write(_topology("type: one-to-many\nendpoints: [bj, sh, gz]\nobjects: [{database: shop, all: true}]"))
    tasks = load(root).resources
    assert [t.address for t in tasks] == ["topology.geo.task.sh", "topology.geo.task.gz"]
    assert {t.attributes["source"] for t in tasks} == {"bj"}


def test_cascade_chains_links_in_order(write, load) -> None:
    root = write(_topology("type: cascade\nendpoints: [bj, sh, gz]\nobjects: [{database: shop, all: true}]"))
    first, second = load(root).resources
    assert (first.address, second.address) == ("topology.geo.task.bj_to_sh", "topology.geo.task.sh_to_gz")
    assert second.depends_on == ("topology.geo.task.bj_to_sh",)
    assert (second.attributes["source"], second.attributes["destination"]) == ("sh", "gz")


def test_two_way_expands_to_forward_and_reverse(write, load) -> None:
    root = write(_topology("type: two-way\nendpoints: [bj, sh]\ninitial_sync_from: sh\nobjects: [{database: shop, all: true}]"))
    forward, reverse = load(root).resources
    assert (forward.attributes["source"], forward.attributes["destination"]) == ("sh", "bj")
    assert forward.attributes["phases"] == ["schema", "full", "incremental"]
    assert forward.attributes["objects"][0]["ddl"] is True
    assert (reverse.attributes["source"], reverse.attributes["destination"]) == ("bj", "sh")
    assert reverse.attributes["phases"] == ["incremental"]
    assert reverse.attributes["objects"][0]["ddl"] is False
    assert forward.attributes["topology"]["peer"] == "topology.geo.task.reverse"
    assert reverse.attributes["topology"]["peer"] == "topology.geo.task.forward"
    assert forward.attributes["conflict_policy"] == reverse.attributes["conflict_policy"] == "ignore"


def test_two_way_between_three_endpoints_is_rejected(write, problems) -> None:
    root = write(_topology("type: two-way\nendpoints: [bj, sh, gz]\nobjects: [{database: shop, all: true}]"))
    assert problems(root) == [
        "main.dts.yaml:9: two-way synchronization is supported only between two endpoints; use a pair per link"
    ]


def test_endpoints_of_different_engines_are_rejected(write, problems) -> None:
    root = write(_topology("type: one-way\nendpoints: [bj, cache]\nobjects: [{database: 0}]"))
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:9: topology.geo joins endpoints of different engines (bj is mysql, cache is redis)")


def test_rename_in_two_way_is_rejected(write, problems) -> None:
    root = write(_topology("type: two-way\nendpoints: [bj, sh]\nobjects:\n  - {database: shop, all: true, rename: shop2}"))
    assert problems(root) == [
        "main.dts.yaml:11: topology.geo: `rename` is not allowed in a two-way topology: name mapping in the reverse direction causes inconsistency"
    ]


def test_initial_sync_from_outside_endpoints_is_rejected(write, problems) -> None:
    root = write(_topology("type: two-way\nendpoints: [bj, sh]\ninitial_sync_from: gz\nobjects: [{database: shop, all: true}]"))
    assert problems(root) == ["main.dts.yaml:10: topology.geo: initial_sync_from `gz` is not one of its endpoints ['bj', 'sh']"]


def test_unknown_endpoint_in_topology_is_reported(write, problems) -> None:
    root = write(_topology("type: one-way\nendpoints: [bj, xx]\nobjects: [{database: shop, all: true}]"))
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:9: topology.geo: unknown endpoint `xx`")


def test_topology_task_overlapping_a_plain_task_is_rejected(write, problems) -> None:
    files = _topology("type: one-way\nendpoints: [bj, sh]\nobjects: [{database: shop, all: true}]")
    files["tasks.dts.yaml"] = "tasks:\n  t: {type: synchronization, source: gz, destination: sh, objects: [{database: shop, tables: [orders]}]}\n"
    assert problems(write(files)) == [
        "main.dts.yaml:7: task.t and topology.geo.task.forward both write shop.orders on endpoint sh; give each task its own objects"
    ]


def test_status_can_pause_one_task_of_a_topology(write, load) -> None:
    root = write(_topology("type: two-way\nendpoints: [bj, sh]\nobjects: [{database: shop, all: true}]\nstatus: {reverse: paused}"))
    forward, reverse = load(root).resources
    assert (forward.attributes["status"], reverse.attributes["status"]) == ("running", "paused")


def test_each_direction_knows_its_own_tag_and_its_peers(write, load) -> None:
    from dtsctl.engine.origin import pair_tags

    root = write(_topology("type: two-way\nendpoints: [bj, sh]\nobjects: [{database: shop, all: true}]"))
    forward, reverse = (pair_tags(task.attributes) for task in load(root).resources)
    assert forward is not None and reverse is not None
    assert (forward.own, forward.peer) == (reverse.peer, reverse.own)
    assert forward.own != forward.peer
    one_way = write(_topology("type: one-way\nendpoints: [bj, sh]\nobjects: [{database: shop, all: true}]"))
    assert pair_tags(load(one_way).resources[0].attributes) is None
