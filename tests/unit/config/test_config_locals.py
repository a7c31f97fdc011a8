"""Locals: evaluated in dependency order, cycles reported."""

from __future__ import annotations


def test_locals_resolve_in_dependency_order(write, load) -> None:
    root = write(
        {
            "main.dts.yaml": """
            variables:
              env: {default: prod}
            locals:
              full: ${ local.prefix }-shop
              prefix: ${ var.env }
              tables: [orders, "${ local.full }_log"]
            """
        }
    )
    assert load(root).declaration.locals == {"full": "prod-shop", "prefix": "prod", "tables": ["orders", "prod-shop_log"]}


def test_local_cycle_is_reported_once(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            locals:
              a: ${ local.b }
              b: ${ local.a }
              c: ${ local.a }-x
            """
        }
    )
    assert problems(root) == ["main.dts.yaml:2: local.a -> local.b -> local.a: these refer to each other in a cycle; break it"]


def test_unknown_local_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": "locals:\n  a: ${ local.nope }\n"})
    assert problems(root) == ["main.dts.yaml:2: local.a: unknown local `local.nope`; declare it under `locals:`"]
