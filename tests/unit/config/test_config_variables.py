"""Variable values: the five sources and their precedence, text parsing, types, required."""

from __future__ import annotations

from pathlib import Path

from dtsctl.config.model import Variable
from dtsctl.config.variables import parse_text_value

DECLARATION = """
variables:
  level: {default: from-default}
  other: {default: untouched}
"""


def _level(write, load, files: dict[str, str] | None = None, **kwargs) -> object:
    root = write({"main.dts.yaml": DECLARATION, **(files or {})})
    return load(root, **kwargs).variables["level"]


def test_default_is_used_when_nothing_sets_it(write, load) -> None:
    assert _level(write, load) == "from-default"


def test_dtsvars_files_override_default_in_name_order(write, load) -> None:
    files = {"a.dtsvars.yaml": "level: from-a\n", "b.dtsvars.yaml": "level: from-b\n"}
    assert _level(write, load, files) == "from-b"


def test_var_file_overrides_dtsvars(write, load, tmp_path: Path) -> None:
    files = {"a.dtsvars.yaml": "level: from-a\n", "extra/one.yaml": "level: from-one\n", "extra/two.yaml": "level: from-two\n"}
    assert _level(write, load, files, var_files=[tmp_path / "extra/two.yaml", tmp_path / "extra/one.yaml"]) == "from-one"


def test_var_flag_overrides_var_file_last_wins(write, load, tmp_path: Path) -> None:
    files = {"one.yaml": "level: from-file\n"}
    value = _level(write, load, files, var_files=[tmp_path / "one.yaml"], var_args=["level=first", "level=last"])
    assert value == "last"


def test_environment_is_used_only_when_nothing_else_set_it(write, load) -> None:
    assert _level(write, load, environ={"DTS_VAR_level": "from-env"}) == "from-env"
    assert _level(write, load, {"a.dtsvars.yaml": "level: from-a\n"}, environ={"DTS_VAR_level": "from-env"}) == "from-a"


def test_var_flag_parses_flow_list(write, load) -> None:
    assert _level(write, load, var_args=["level=[a, b]"]) == ["a", "b"]


def test_text_values_parse_only_unambiguous_scalars() -> None:
    any_type = Variable()
    assert parse_text_value("42", any_type) == 42
    assert parse_text_value("true", any_type) is True
    assert parse_text_value("0123", any_type) == "0123"
    assert parse_text_value("yes", any_type) == "yes"
    assert parse_text_value("42", Variable(type="string")) == "42"
    assert parse_text_value("[1]", Variable(sensitive=True)) == "[1]"


def test_missing_required_variable_is_reported_at_its_declaration(write, problems) -> None:
    root = write({"main.dts.yaml": "variables:\n  region: {default: bj}\n  src_password: {sensitive: true}\n"})
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:3: variable `src_password` is required but not set;")
    assert "--var src_password=VALUE" in problem and "DTS_VAR_src_password" in problem


def test_unknown_variable_in_dtsvars_file_is_reported_with_line(write, problems) -> None:
    root = write({"main.dts.yaml": DECLARATION, "prod.dtsvars.yaml": "level: x\nlevle: y\n"})
    assert problems(root) == [
        "prod.dtsvars.yaml:2: no variable `levle` is declared; declare it under `variables:` or remove it here"
    ]


def test_var_flag_without_equals_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    assert problems(root, var_args=["level"]) == ["main.dts.yaml:1: --var expects NAME=VALUE, got 'level'"]


def test_wrong_type_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": "variables:\n  port: {type: number}\n"})
    assert problems(root, var_args=["port=abc"]) == ["main.dts.yaml:2: variable `port` must be a number, got 'abc' (set by --var)"]


def test_missing_var_file_is_reported(write, problems, tmp_path: Path) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    assert problems(root, var_files=[tmp_path / "nope.yaml"]) == ["nope.yaml:1: variables file not found; check the --var-file path"]
