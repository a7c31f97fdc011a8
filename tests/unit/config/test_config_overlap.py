"""The indexed cross-task overlap check finds exactly the pairs, and says exactly what, the all-pairs check did."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dtsctl.config.overlap import _shared_object, identity, write_conflicts
from dtsctl.config.resources import DesiredResource


def all_pairs(resources: list[DesiredResource]) -> list[tuple[DesiredResource, str]]:
    """The former implementation: every writer compared with every earlier one (the oracle)."""
    found = []
    writers = [r for r in resources if r.attributes.get("destination_endpoint")]
    for index, later in enumerate(writers):
        for earlier in writers[:index]:
            if identity(earlier.attributes["destination_endpoint"]) != identity(later.attributes["destination_endpoint"]):
                continue
            shared = _shared_object(earlier, later)
            if shared:
                found.append((later, f"{earlier.address} and {later.address} both write {shared} on endpoint "
                                     f"{later.attributes['destination']}; give each task its own objects"))
    return found


def endpoint(engine: str, where: str) -> dict[str, Any]:
    path = where if engine == "sqlite" else None
    host = None if engine == "sqlite" else where
    return {"engine": engine, "host": host, "port": 6379 if engine == "redis" else None, "path": path,
            "database": None, "cluster": False}


def selection(database: Any, *, all_: bool = False, tables: list[str] | None = None, rename: Any = None,
              table_rename: dict[str, str] | None = None, collections: list[str] | None = None,
              key_prefixes: list[str] | None = None) -> dict[str, Any]:
    return {"database": database, "all": all_, "tables": tables, "rename": rename,
            "table_rename": table_rename or {}, "collections": collections, "key_prefixes": key_prefixes}


def task(name: str, destination: str | None, dest_endpoint: dict[str, Any] | None,
         objects: list[dict[str, Any]]) -> DesiredResource:
    attributes = {"source": "src", "destination": destination, "destination_endpoint": dest_endpoint,
                  "source_endpoint": endpoint("sqlite", "/src.db"), "objects": objects}
    return DesiredResource(address=f"task.{name}", type="task", name=name, attributes=attributes)


def messages(found: list[tuple[DesiredResource, str]]) -> list[tuple[str, str]]:
    return [(resource.address, message) for resource, message in found]


REDIS = endpoint("redis", "10.0.0.1")
REDIS_AGAIN = endpoint("redis", "10.0.0.1")  # the same server under another name
LAKE = endpoint("sqlite", "/lake.db")

TRICKY = {
    "a key prefix that begins an earlier one": [
        task("a", "cache", REDIS, [selection(0, key_prefixes=["user:1"])]),
        task("b", "cache2", REDIS_AGAIN, [selection(0, key_prefixes=["user:"])]),
    ],
    "an earlier key prefix that begins a later one": [
        task("a", "cache", REDIS, [selection(0, key_prefixes=["user:"])]),
        task("b", "cache", REDIS, [selection(0, key_prefixes=["order:", "user:42"])]),
    ],
    "the empty key prefix overlaps everything": [
        task("a", "cache", REDIS, [selection(0, key_prefixes=["a", "b"])]),
        task("b", "cache", REDIS, [selection(0, key_prefixes=[""])]),
    ],
    "prefixes collide in the database they are written to": [
        task("a", "cache", REDIS, [selection(0, key_prefixes=["user:"])]),
        task("b", "cache", REDIS, [selection(1, key_prefixes=["user:"])]),
        task("c", "cache", REDIS, [selection(0, rename=1, key_prefixes=["user:9"])]),
    ],
    "a whole database against an earlier empty table list": [
        task("a", "lake", LAKE, [selection("main", tables=[])]),
        task("b", "lake", LAKE, [selection("main", all_=True)]),
    ],
    "an empty table list against an earlier whole database": [
        task("a", "lake", LAKE, [selection("main", all_=True)]),
        task("b", "lake", LAKE, [selection("main", tables=[])]),
    ],
    "a table renamed onto another task's table": [
        task("a", "lake", LAKE, [selection("main", tables=["orders"])]),
        task("b", "lake", LAKE, [selection("main", tables=["orders_v2"], table_rename={"orders_v2": "orders"})]),
        task("c", "lake", LAKE, [selection("main", tables=["orders"], table_rename={"orders": "orders_c"})]),
    ],
    "three tasks on one table report every pair": [
        task("a", "lake", LAKE, [selection("main", tables=["t", "u"])]),
        task("b", "lake", LAKE, [selection("main", tables=["u", "t"])]),
        task("c", "lake", LAKE, [selection("main", all_=True)]),
        task("d", None, None, [selection("main", all_=True)]),  # a subscription writes nothing
    ],
    "a renamed database meets a database of that name": [
        task("a", "wh", endpoint("mysql", "db1"), [selection("shop", rename="shop_copy", all_=True)]),
        task("b", "wh", endpoint("mysql", "db1"), [selection("shop_copy", collections=None, tables=["x"])]),
        task("c", "wh2", endpoint("mysql", "db2"), [selection("shop_copy", all_=True)]),
    ],
    "collections": [
        task("a", "docs", endpoint("mongodb", "m1"), [selection("app", collections=["users", "carts"])]),
        task("b", "docs", endpoint("mongodb", "m1"), [selection("app", collections=["carts"])]),
        task("c", "docs", endpoint("mongodb", "m1"), [selection("app", collections=["orders"])]),
    ],
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_tricky_cases_match_the_all_pairs_check(case: str) -> None:
    resources = TRICKY[case]
    assert messages(write_conflicts(resources)) == messages(all_pairs(resources))


def test_tricky_cases_find_what_they_should() -> None:
    assert messages(write_conflicts(TRICKY["a key prefix that begins an earlier one"])) == [
        ("task.b", "task.a and task.b both write 0.user:* on endpoint cache2; give each task its own objects")]
    assert [address for address, _ in messages(write_conflicts(TRICKY["three tasks on one table report every pair"]))] \
        == ["task.b", "task.c", "task.c"]
    assert messages(write_conflicts(TRICKY["prefixes collide in the database they are written to"])) == [
        ("task.c", "task.b and task.c both write 1.user:* on endpoint cache; give each task its own objects")]


def random_workspace(rng: random.Random, size: int) -> list[DesiredResource]:
    servers = [("sqlite", "/a.db"), ("sqlite", "/b.db"), ("redis", "r1"), ("redis", "r2"), ("mysql", "m1")]
    resources = []
    for number in range(size):
        engine, where = rng.choice(servers)
        objects = []
        for _ in range(rng.randint(1, 3)):
            database = rng.choice(["main", "shop", 0, 1])
            rename = rng.choice([None, None, "shop", 1])
            shape = rng.randrange(4)
            if shape == 0:
                objects.append(selection(database, rename=rename, all_=True))
            elif shape == 1:
                tables = rng.sample(["t", "u", "v", "w", "x"], rng.randint(0, 2))
                renames = {table: rng.choice(["t", "z"]) for table in tables if rng.random() < 0.3}
                objects.append(selection(database, rename=rename, tables=tables, table_rename=renames))
            elif shape == 2:
                objects.append(selection(database, rename=rename,
                                         key_prefixes=rng.sample(["", "u", "us", "user:", "user:1", "o"], rng.randint(1, 2))))
            else:
                objects.append(selection(database, rename=rename, collections=rng.sample(["c", "d"], rng.randint(0, 2))))
        has_destination = rng.random() < 0.9
        resources.append(task(f"t{number}", "d" if has_destination else None,
                              endpoint(engine, where) if has_destination else None, objects))
    return resources


def test_random_workspaces_match_the_all_pairs_check() -> None:
    rng = random.Random(11)
    for _ in range(200):
        resources = random_workspace(rng, rng.randint(2, 12))
        assert messages(write_conflicts(resources)) == messages(all_pairs(resources))
