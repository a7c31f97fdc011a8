"""Declarations are parsed by libyaml for speed; syntax errors keep PyYAML's fuller wording and the same line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtsctl.config.yamlsrc import YamlSyntaxError, parse_yaml


@pytest.mark.parametrize(("text", "line", "message"), [
    ("endpoints:\n\ta: {engine: sqlite}\n", 2, "invalid YAML: found character '\\t' that cannot start any token"),
    ("a: &x 1\nb: *y\n", 2, "invalid YAML: found undefined alias 'y'"),
    ("tasks:\n  copy: [unclosed\n", 3, "invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("a: 1\na: 2\n", 2, "key `a` appears twice in the same mapping (first at line 1)"),
])
def test_syntax_errors_name_what_is_wrong(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml(text, Path("main.dts.yaml"))
    assert (caught.value.line, caught.value.message) == (line, message)


def test_lines_and_values_are_those_of_the_text() -> None:
    doc = parse_yaml("a:\n  - {b: 1, c: yes}\n  - <<: {d: x}\n    e: ${ var.e }\n", Path("main.dts.yaml"))
    assert doc.data == {"a": [{"b": 1, "c": True}, {"d": "x", "e": "${ var.e }"}]}
    assert doc.lines == {(): 1, ("a",): 1, ("a", 0): 2, ("a", 0, "b"): 2, ("a", 0, "c"): 2,
                         ("a", 1): 3, ("a", 1, "d"): 3, ("a", 1, "e"): 4}
