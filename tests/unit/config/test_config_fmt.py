"""`dtsctl fmt`: canonical, idempotent, and never loses a comment or changes the data."""

from __future__ import annotations

import pytest
import yaml

from dtsctl.config import format_yaml
from dtsctl.errors import DtsError

MESSY = """\
# top comment


variables:
    src_password:   {sensitive: true}    # inline comment
    region:
        default: bj   \r
endpoints:
    bj:
        engine:    mysql
        # a comment inside
        host: 127.0.0.1
tasks:
    t:
        objects:
            -   database: shop
                tables: [a, b]
        note: |
            line one


            line three
        other: 1



"""

CANONICAL = """\
# top comment

variables:
  src_password: {sensitive: true}    # inline comment
  region:
    default: bj
endpoints:
  bj:
    engine: mysql
    # a comment inside
    host: 127.0.0.1
tasks:
  t:
    objects:
      - database: shop
        tables: [a, b]
    note: |
        line one


        line three
    other: 1
"""


def test_messy_file_gets_canonical_form() -> None:
    assert format_yaml(MESSY) == CANONICAL


def test_format_keeps_every_comment() -> None:
    def comments(text: str) -> list[str]:
        return [line[line.index("#"):].strip() for line in text.splitlines() if "#" in line]

    assert comments(format_yaml(MESSY)) == comments(MESSY)


def test_format_keeps_the_data_including_block_scalars() -> None:
    assert yaml.safe_load(format_yaml(MESSY)) == yaml.safe_load(MESSY.replace("\r", ""))


def test_format_is_idempotent() -> None:
    once = format_yaml(MESSY)
    assert format_yaml(once) == once


def test_canonical_file_is_unchanged() -> None:
    assert format_yaml(CANONICAL) == CANONICAL


def test_invalid_yaml_is_refused() -> None:
    with pytest.raises(DtsError, match="invalid YAML at line 2"):
        format_yaml("a: 1\n  b: 2\n")
