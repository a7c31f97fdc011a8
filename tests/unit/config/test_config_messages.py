"""A value of the wrong kind is reported in the declaration's words: what was given, what is
accepted and an example of the accepted forms, at `file:line`; never pydantic's types or phrasing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from dtsctl.config import model as models

HEADER = """\
endpoints:
  a: {engine: sqlite, path: ./a.db}
  b: {engine: sqlite, path: ./b.db}
  m1: {engine: mysql, host: m1.example}
  m2: {engine: mysql, host: m2.example}
"""


def task(**settings: str) -> str:
    """HEADER and a valid synchronization task `t` (line 7), with `settings` replacing or adding keys (from line 8)."""
    keys = {"type": "synchronization", "source": "a", "destination": "b", "objects": "[{database: main, all: true}]"}
    keys.update(settings)
    return HEADER + "tasks:\n  t:\n" + "".join(f"    {key}: {value}\n" for key, value in keys.items() if value is not None)


def subscription(groups: str) -> str:
    return task(type="subscription", destination=None, consumer_groups=groups)


def objects(**settings: str) -> str:
    selection = {"database": "main", "tables": "[orders]", **settings}
    return task(objects="[{" + ", ".join(f"{k}: {v}" for k, v in selection.items()) + "}]")


def topology(**settings: str) -> str:
    keys = {"type": "two-way", "endpoints": "[m1, m2]", "objects": "[{database: shop, all: true}]", **settings}
    return HEADER + "topologies:\n  p:\n" + "".join(f"    {key}: {value}\n" for key, value in keys.items())


CASES = {
    # the examples
    "port: abc": (HEADER.replace("host: m1.example", "host: m1.example, port: abc"),
                  'main.dts.yaml:4: endpoint.m1.port: got "abc"; expected a whole number from 1 to 65535, e.g. `port: 3306`'),
    "tables: items": (objects(tables="items"),
                      'main.dts.yaml:11: task.t.objects[0].tables: got "items"; expected a list of text values, e.g. `tables: [orders, items]`'),
    "database: [a, b]": (objects(database="[a, b]"),
                         "main.dts.yaml:11: task.t.objects[0].database: got [a, b]; expected text, or a whole number, "
                         "e.g. `database: shop` or `database: 0`"),
    "consumer_groups: 5": (subscription("5"),
                           "main.dts.yaml:11: task.t.consumer_groups: got 5; expected a list of group names or of "
                           "{name: ..., start: ...} blocks, or a mapping of group names to options, e.g. `consumer_groups: "
                           "[billing, audit]` or `consumer_groups: [{name: billing, start: earliest}]` or "
                           "`consumer_groups: {billing: {start: earliest}}`"),
    "a named block without name": (subscription("[{start: earliest}]"),
                                   "main.dts.yaml:11: task.t.consumer_groups[0]: `name` is required, e.g. `name: billing`"),
    "a group option of the wrong value": (subscription("{billing: {start: now}}"),
                                          'main.dts.yaml:11: task.t.consumer_groups.billing.start: got "now"; expected '
                                          "latest or earliest, e.g. `start: earliest`"),
    # one bad value per kind of field
    "whole number with a lower bound": (objects(extend_ttl_seconds="-1"),
                                        "main.dts.yaml:11: task.t.objects[0].extend_ttl_seconds: got -1; expected a whole "
                                        "number, 0 or more, e.g. `extend_ttl_seconds: 60`"),
    "whole number given a fraction": (HEADER.replace("host: m1.example", "host: m1.example, port: 3306.5"),
                                      "main.dts.yaml:4: endpoint.m1.port: got 3306.5; expected a whole number from 1 to "
                                      "65535, e.g. `port: 3306`"),
    "number": (task(throttle="{rps: fast}"),
               'main.dts.yaml:12: task.t.throttle.rps: got "fast"; expected a number, 0 or more, e.g. `rps: 1000`'),
    "number above zero": (task(retry="{other_minutes: 0}"),
                          "main.dts.yaml:12: task.t.retry.other_minutes: got 0; expected a number greater than 0, "
                          "e.g. `other_minutes: 10`"),
    "bool": (objects(ddl="maybe"),
             'main.dts.yaml:11: task.t.objects[0].ddl: got "maybe"; expected true or false, e.g. `ddl: false`'),
    "enum, with a suggestion": (task(type="synchronisation"),
                                'main.dts.yaml:8: task.t.type: got "synchronisation" (did you mean `synchronization`?); '
                                "expected migration, synchronization or subscription, e.g. `type: synchronization`"),
    "list of enum values": (objects(dml="[insert, upsert]"),
                            'main.dts.yaml:11: task.t.objects[0].dml[1]: got "upsert"; expected insert, update or delete, '
                            "e.g. `dml: [insert, update]`"),
    "text": (task(source="[a, b]"),
             "main.dts.yaml:9: task.t.source: got [a, b]; expected text, e.g. `source: bj`"),
    "mapping of text": (objects(filter="[amount > 1]"),
                        "main.dts.yaml:11: task.t.objects[0].filter: got [amount > 1]; expected a mapping of names to "
                        'text values, e.g. `filter: {orders: "amount > 100"}`'),
    "a key that is not text": (objects(table_rename="{1: x}"),
                               "main.dts.yaml:11: task.t.objects[0].table_rename[1]: the key 1 must be text; quote it"),
    "nested settings": (task(throttle="5"),
                        "main.dts.yaml:12: task.t.throttle: got 5; expected a mapping of rps, mbps, windows, timezone, e.g. `throttle: {rps: 1000, mbps: 50}`"),
    "a list needing items": (task(objects="[]"),
                             "main.dts.yaml:11: task.t.objects: got an empty list; expected a list of 1 or more mappings, "
                             "e.g. `objects: [{database: shop, tables: [orders]}]`"),
    "a list needing two items": (topology(endpoints="[m1]"),
                                 "main.dts.yaml:9: topology.p.endpoints: got [m1]; expected a list of 2 or more text values, "
                                 "e.g. `endpoints: [bj, sh]`"),
    "one status or one per task": (topology(status="pausd"),
                                   'main.dts.yaml:11: topology.p.status: got "pausd" (did you mean `paused`?); expected '
                                   "running or paused, or a mapping of names to running or paused, e.g. `status: paused` "
                                   "or `status: {reverse: paused}`"),
    "one status per task": (topology(status="{forward: pausd}"),
                            'main.dts.yaml:11: topology.p.status.forward: got "pausd" (did you mean `paused`?); expected '
                            "running or paused, e.g. `status: paused` or `status: {reverse: paused}`"),
    "an entry that is not a mapping": (HEADER + "  c: mysql\n",
                                       'main.dts.yaml:6: endpoint.c: got "mysql"; expected a mapping of engine, host, port, '
                                       "user, password, path, database, cluster, sentinel, uri, auth_database, replica_set, tls"),
    "a long value is shortened": (task(source="[" + ", ".join(f"endpoint_{n}" for n in range(10)) + "]"),
                                  "main.dts.yaml:9: task.t.source: got [endpoint_0, endpoint_1, endpoint_2, en…; "
                                  "expected text, e.g. `source: bj`"),
}
PYDANTIC_PHRASES = ("Input should", "valid dictionary", "valid integer", "valid string", "valid list", "[str]", "nullable",
                    "str,", ".str", ".int", "literal[", "Field required", "Value error", "instance of", "union")


@pytest.mark.parametrize("case", list(CASES))
def test_a_value_of_the_wrong_kind_is_explained(write, problems, case: str) -> None:
    text, expected = CASES[case]
    assert problems(write({"main.dts.yaml": text})) == [expected]


def test_no_message_speaks_pydantic(write, problems) -> None:
    corpus = [text for text, _ in CASES.values()] + [
        subscription("[{name: billing}, {nme: x}, 5]"), objects(rename="[x]"), objects(key_prefixes="user"),
        objects(collections="{a: b}"), task(phases="[schema, bogus]"), task(phases="full"), task(status="stopped"),
        task(lifecycle="{prevent_destroy: perhaps}"), task(conflict_policy="win"), topology(type="ring"),
        HEADER + "variables:\n  v: {type: text, sensitive: sometimes}\n", HEADER + "modules:\n  m: {source: [a], inputs: 5}\n",
        HEADER.replace("cluster", "x") + "  r: {engine: redis, host: r, cluster: 2}\n",
    ]
    for text in corpus:
        for line in problems(write({"main.dts.yaml": text})):
            assert not any(phrase in line for phrase in PYDANTIC_PHRASES), line


def test_a_sensitive_value_is_never_shown(write, problems) -> None:
    root = write({"main.dts.yaml": """\
        variables:
          pw: {sensitive: true, default: [hunter2]}
        endpoints:
          m: {engine: mysql, host: m.example, password: "${ var.pw }", user: "${ var.pw }"}
        """})
    assert problems(root) == [
        "main.dts.yaml:4: endpoint.m.user: got a sensitive value; expected text, e.g. `user: dts`",
        "main.dts.yaml:4: endpoint.m.password: got a sensitive value; expected text, e.g. `password: \"${ var.password }\"`",
    ]


def test_every_field_shows_its_accepted_forms() -> None:
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value not in (BaseModel, models.Declaration):
            for name, field in value.model_fields.items():
                assert field.examples, f"{value.__name__}.{name} has no examples"


def test_consumer_groups_as_named_blocks_mean_the_same_as_a_mapping(write, load) -> None:
    def groups_of(groups: str) -> object:
        return load(write({"main.dts.yaml": subscription(groups)})).resources[0].attributes["consumer_groups"]

    expected = {"audit": {"start": "latest"}, "billing": {"start": "earliest"}}
    assert groups_of("[{name: billing, start: earliest}, {name: audit}]") == expected
    assert groups_of("[audit, {name: billing, start: earliest}]") == expected
    assert groups_of("{billing: {start: earliest}, audit: }") == expected


def test_a_named_block_listed_twice_is_reported(write, problems) -> None:
    assert problems(write({"main.dts.yaml": subscription("[{name: billing}, billing]")})) == [
        "main.dts.yaml:7: task.t: consumer group billing is listed twice in `consumer_groups`"
    ]
