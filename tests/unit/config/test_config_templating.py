"""Templating in strings: native values, mixed strings, directives, strict names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dtsctl.config.template import Scope, TemplateError, mapping_space


def scope(**variables: object) -> Scope:
    return Scope({"var": mapping_space("var", variables, sensitive={"secret"}, missing="unknown variable `var.{name}`")})


def test_single_expression_keeps_native_list() -> None:
    assert scope(tables=["a", "b"]).render("${ var.tables }") == (["a", "b"], False)


def test_single_expression_keeps_native_number() -> None:
    assert scope(port=3306).render("${var.port + 1}") == (3307, False)


def test_mixed_string_renders_text() -> None:
    assert scope(region="bj").render("db-${ var.region }.internal") == ("db-bj.internal", False)


def test_for_directive_repeats() -> None:
    value, _ = scope(tables=["a", "b"]).render("%{ for t in var.tables }[${ t }]%{ endfor }")
    assert value == "[a][b]"


def test_if_directive_chooses() -> None:
    text = "%{ if var.n > 2 }many%{ else }few%{ endif }"
    assert scope(n=3).render(text)[0] == "many"
    assert scope(n=1).render(text)[0] == "few"


def test_plain_string_is_untouched() -> None:
    assert scope().render("amount > 10 {#not jinja#}") == ("amount > 10 {#not jinja#}", False)


def test_unknown_variable_is_an_error_not_empty() -> None:
    with pytest.raises(TemplateError, match=r"unknown variable `var.nope`"):
        scope().render("x-${ var.nope }")


def test_unknown_top_level_name_is_named() -> None:
    with pytest.raises(TemplateError, match=r"unknown name `foo`"):
        scope().render("${ foo.bar }")


def test_reading_a_sensitive_variable_taints_the_result() -> None:
    assert scope(secret="pw").render("user:${ var.secret }") == ("user:pw", True)


def test_invalid_expression_is_reported() -> None:
    with pytest.raises(TemplateError, match="invalid expression"):
        scope().render("${ (( }")


def test_bare_namespace_is_not_a_value() -> None:
    with pytest.raises(TemplateError, match="namespace"):
        scope().render("${ var }")


def test_template_error_in_file_names_file_and_line(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              a: {engine: sqlite, path: ./a.db}
              b:
                engine: sqlite
                path: ${ var.missing }
            """
        }
    )
    assert problems(root) == ["main.dts.yaml:5: endpoint.b: unknown variable `var.missing`; declare it under `variables:`"]


def test_missing_environment_variable_is_an_error(write, problems) -> None:
    root = write({"main.dts.yaml": "endpoints:\n  r: {engine: redis, host: h, password: '${ env.REDIS_PW }'}\n"})
    assert problems(root) == ["main.dts.yaml:2: endpoint.r: environment variable REDIS_PW is not set; export it before running dtsctl"]


def test_environment_variable_is_read(write, load) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              a: {engine: sqlite, path: "${ env.DATA }/a.db"}
              b: {engine: sqlite, path: ./b.db}
            tasks:
              t: {type: migration, source: a, destination: b, objects: [{database: main, all: true}]}
            """
        }
    )
    workspace = load(root, environ={"DATA": "/srv/data"})
    assert workspace.resources[0].attributes["source_endpoint"]["path"] == "/srv/data/a.db"


def test_unquoted_expressions_inside_flow_mappings_parse_as_in_the_contract(write, load) -> None:
    root = write({"main.dts.yaml": """
        variables:
          dst_password: {sensitive: true}
          tables: {default: [orders, items]}
        endpoints:
          sh: {engine: mysql, host: 127.0.0.1, port: 3307, user: dts, password: ${ var.dst_password }}
          lake: {engine: sqlite, path: ./lake.db}
        tasks:
          copy: {type: migration, source: sh, destination: lake, objects: [{database: shop, tables: ${ var.tables }}]}
        """})
    workspace = load(root, var_args=["dst_password=p{a}ss"])
    attributes = workspace.resources[0].attributes
    assert attributes["source_endpoint"]["password"] == "p{a}ss"
    assert attributes["objects"][0]["tables"] == ["orders", "items"]
    assert ("source_endpoint", "password") in workspace.resources[0].sensitive_paths


def test_a_declaration_without_templates_never_imports_jinja2(tmp_path) -> None:
    """jinja2 takes a tenth of a second to import, and every CLI command reads the declaration."""
    (tmp_path / "main.dts.yaml").write_text(
        "endpoints:\n  a: {engine: sqlite, path: a.db}\n  b: {engine: sqlite, path: b.db}\n"
        "tasks:\n  t: {type: synchronization, source: a, destination: b, objects: [{database: main, all: true}]}\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dtsctl", "validate"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")]
    assert "dtsctl.config.template" in imported and "jinja2" not in imported
