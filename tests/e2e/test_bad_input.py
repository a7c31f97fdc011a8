"""Bad input: one clear line on stderr, exit 1, and nothing changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.cli import Workspace, execute

GOOD = """
    endpoints:
      shop: {engine: sqlite, path: ./shop.db}
      replica: {engine: sqlite, path: ./replica.db}
    tasks:
      copy:
        type: synchronization
        source: shop
        destination: replica
        objects: [{database: main, tables: [orders]}]
        status: paused
    """

BAD = {
    "invalid YAML": ("main.dts.yaml", "tasks:\n  copy: [unclosed\n", "main.dts.yaml:"),
    "unknown endpoint": ("main.dts.yaml", GOOD.replace("destination: replica", "destination: replika"), "replika"),
    "unknown key": ("main.dts.yaml", GOOD.replace("destination: replica", "destinaton: replica"), "destinaton"),
    "missing required variable": (
        "main.dts.yaml",
        "variables:\n  db_path: {description: where the shop lives}\n"
        + textwrap.dedent(GOOD).replace("./shop.db", "${ var.db_path }"),
        "db_path",
    ),
    "source file missing": (
        "main.dts.yaml",
        textwrap.dedent(GOOD).replace("endpoints:", "endpoints:\n  gone: {engine: sqlite, path: ./missing.db}")
        + "  other_copy:\n    type: synchronization\n    source: gone\n    destination: replica\n"
        + "    objects: [{database: main, tables: [archive]}]\n",
        "missing.db",
    ),
}


def _with_topology(topology: str, tasks: str = "") -> str:
    """GOOD plus three MySQL endpoints, a Redis one, a topology `geo` and maybe more tasks."""
    text = textwrap.dedent(GOOD).replace("endpoints:", "endpoints:\n" + "".join(
        f"  {name}: {{engine: mysql, host: {name}.example}}\n" for name in ("m1", "m2", "m3"))
        + "  r1: {engine: redis, host: r1.example}")
    return text + tasks + "topologies:\n  geo: " + topology + "\n"


TOPOLOGY_BAD = {
    "two-way between three endpoints": (
        "{type: two-way, endpoints: [m1, m2, m3], objects: [{database: shop, all: true}]}", "",
        "two-way synchronization is supported only between two endpoints; use a pair per link"),
    "two-way across engines": (
        "{type: two-way, endpoints: [m1, r1], objects: [{database: 0}]}", "", "joins endpoints of different engines"),
    "two-way between sqlite files": (
        "{type: two-way, endpoints: [shop, replica], objects: [{database: main, tables: [orders]}]}", "",
        "two-way synchronization is supported between mysql or redis or mongodb endpoints, not sqlite"),
    "two-way with rename": (
        "{type: two-way, endpoints: [m1, m2], objects: [{database: shop, all: true, rename: shop2}]}", "",
        "`rename` is not allowed in a two-way topology"),
    "two-way with table_rename": (
        "{type: two-way, endpoints: [m1, m2], objects: [{database: shop, tables: [a], table_rename: {a: b}}]}", "",
        "`table_rename` is not allowed in a two-way topology"),
    "two writers of the same objects": (
        "{type: two-way, endpoints: [m1, m2], objects: [{database: shop, all: true}]}",
        "  extra:\n    type: synchronization\n    source: m3\n    destination: m2\n"
        "    objects: [{database: shop, tables: [orders]}]\n",
        "both write shop"),
    "status of a task the topology does not have": (
        "{type: two-way, endpoints: [m1, m2], objects: [{database: shop, all: true}], status: {backward: paused}}", "",
        "`status` names task `backward`"),
}
BAD.update({case: ("main.dts.yaml", _with_topology(topology, tasks), mentioned)
            for case, (topology, tasks, mentioned) in TOPOLOGY_BAD.items()})


@pytest.fixture
def applied(workspace: Workspace) -> Workspace:
    """A workspace with one managed (paused) task, so there is a state to keep intact."""
    execute(workspace.root / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)")
    workspace.write("main.dts.yaml", GOOD)
    workspace.run("apply", "--auto-approve")
    return workspace


def snapshot(root: Path) -> dict[str, bytes]:
    state = root / "state"
    return {p.name: p.read_bytes() for p in sorted(state.iterdir()) if p.is_file()}


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_1_and_changes_nothing(applied: Workspace, case: str) -> None:
    filename, text, mentioned = BAD[case]
    before = snapshot(applied.root)
    applied.write(filename, text)
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = applied.run(*command, check=False)
        if case == "source file missing" and command == ["plan"]:
            assert result.returncode == 0, "plan does not touch endpoints; apply's precheck catches it"
            continue
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert mentioned in lines[0]
        assert "Traceback" not in result.stderr
    assert snapshot(applied.root) == before
    assert not (applied.root / "missing.db").exists()


# Each case: the files of a fresh workspace, and the exact lines `validate` and `plan` print on stderr.
MESSAGES: dict[str, tuple[dict[str, str | bytes], list[str]]] = {
    "a file that is not UTF-8 text": (
        {"main.dts.yaml": GOOD, "x.dts.yaml": b"\x89PNG\r\n\x1a\n"},
        ["x.dts.yaml:1: not UTF-8 text (byte 0x89 on this line); save the file as UTF-8"]),
    "a variables file that is not UTF-8 text": (
        {"main.dts.yaml": GOOD, "prod.dtsvars.yaml": b"region: b\xe9ijing\n"},
        ["prod.dtsvars.yaml:1: not UTF-8 text (byte 0xe9 on this line); save the file as UTF-8"]),
    "10,000 levels of nesting": (
        {"main.dts.yaml": "locals:\n  deep: " + "[" * 10_000 + "]" * 10_000 + "\n"},
        ["main.dts.yaml:2: invalid YAML: nested more than 100 levels deep; flatten the structure"]),
    "an alias bomb": (
        {"main.dts.yaml": "locals:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
            f"  l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 9))},
        ["main.dts.yaml:2: aliases (`*name`) expand to more than 10,000 values (nested aliases multiply); "
         "write the repeated parts out or alias smaller ones"]),
    "port: abc": (
        {"main.dts.yaml": GOOD.replace("replica: {engine: sqlite, path: ./replica.db}",
                                       "replica: {engine: sqlite, path: ./replica.db}\n      my1: {engine: mysql, host: db1, port: abc}")},
        ['main.dts.yaml:5: endpoint.my1.port: got "abc"; expected a whole number from 1 to 65535, e.g. `port: 3306`']),
    "a Sentinel-managed endpoint declared wrong": (
        {"main.dts.yaml": GOOD.replace("replica: {engine: sqlite, path: ./replica.db}", """replica: {engine: sqlite, path: ./replica.db}
      r1: {engine: redis, sentinel: {hosts: ["s1:26379", s2, "s3:99999"], master: "", password: hunter2}}
      r2: {engine: redis, host: r2, sentinel: {hosts: ["s1:26379"], master: m}}
      m1: {engine: mysql, sentinel: {hosts: ["s1:26379"], master: m}}
      r3: {engine: redis}""")},
        ["main.dts.yaml:5: endpoint.r1.sentinel.hosts: `s2`, `s3:99999` not host:port; write each Sentinel as "
         'host:port with a port from 1 to 65535, e.g. `hosts: ["10.0.0.7:26379", "10.0.0.8:26379"]`',
         'main.dts.yaml:5: endpoint.r1.sentinel.master: got ""; expected text, e.g. `master: mymaster`',
         "main.dts.yaml:6: endpoint.r2: a Sentinel-managed endpoint gets its master from the Sentinels: "
         "remove `host`, `port` and `cluster`, or remove `sentinel`",
         "main.dts.yaml:7: endpoint.m1: `sentinel` is for redis endpoints; a mysql endpoint names its `host`",
         "main.dts.yaml:8: endpoint.r3: a redis endpoint needs `host` (or, for a Sentinel-managed master, `sentinel`)"]),
    "tables: items and database: [a, b]": (
        {"main.dts.yaml": GOOD.replace("{database: main, tables: [orders]}", "{database: [a, b], tables: items}")},
        ["main.dts.yaml:10: task.copy.objects[0].database: got [a, b]; expected text, or a whole number, "
         "e.g. `database: shop` or `database: 0`",
         'main.dts.yaml:10: task.copy.objects[0].tables: got "items"; expected a list of text values, e.g. `tables: [orders, items]`']),
    "consumer_groups: 5": (
        {"main.dts.yaml": GOOD + "\n      feed: {type: subscription, source: shop, objects: [{database: main, all: true}], consumer_groups: 5}\n"},
        ["main.dts.yaml:13: task.feed.consumer_groups: got 5; expected a list of group names or of {name: ..., start: ...} "
         "blocks, or a mapping of group names to options, e.g. `consumer_groups: [billing, audit]` or "
         "`consumer_groups: [{name: billing, start: earliest}]` or `consumer_groups: {billing: {start: earliest}}`"]),
    "a task without objects naming an unknown destination": (
        {"main.dts.yaml": GOOD.replace("destination: replica", "destination: replika").replace(
            "        objects: [{database: main, tables: [orders]}]\n", "")},
        ["main.dts.yaml:6: task.copy: `objects` is required, e.g. `objects: [{database: shop, tables: [orders]}]`",
         "main.dts.yaml:9: task.copy: unknown endpoint `replika`; declared endpoints are ['replica', 'shop']"]),
    "an unterminated expression in a flow mapping": (
        {"main.dts.yaml": 'endpoints:\n  dst2: {engine: sqlite, path: "./d-${ var.dir.db"}\n  a: {engine: sqlite, path: ./a.db}\n\n'},
        ["main.dts.yaml:2: endpoint.dst2: invalid template: a `${` or `%{` is not closed with `}` on this line"]),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(MESSAGES))
def test_validate_and_plan_say_what_is_wrong_in_the_users_words(workspace: Workspace, case: str) -> None:
    files, expected = MESSAGES[case]
    for name, content in files.items():
        if isinstance(content, bytes):
            (workspace.root / name).write_bytes(content)
        else:
            workspace.write(name, content)
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = workspace.run(*command, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.splitlines() == expected, command
    assert not (workspace.root / "state").exists()


@pytest.mark.e2e
def test_consumer_groups_written_as_named_blocks_validate_and_plan(workspace: Workspace) -> None:
    workspace.write("main.dts.yaml", GOOD + """
      feed:
        type: subscription
        source: shop
        objects: [{database: main, all: true}]
        consumer_groups: [{name: billing, start: earliest}, {name: audit}]
    """)
    assert workspace.run("validate").returncode == 0
    plan = workspace.run("plan").stdout
    assert "billing" in plan and "audit" in plan and "earliest" in plan, plan
