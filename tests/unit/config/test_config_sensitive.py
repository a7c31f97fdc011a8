"""Secrets: password fields and values derived from sensitive variables are marked sensitive."""

from __future__ import annotations

DECLARATION = """
variables:
  pw: {sensitive: true}
  db_user: {sensitive: true, default: dts}
  plain: {default: shop}
locals:
  dsn_user: "u-${ var.db_user }"
endpoints:
  src: {engine: mysql, host: a, user: "${ local.dsn_user }", password: "${ var.pw }"}
  dst: {engine: mysql, host: b}
tasks:
  t:
    type: synchronization
    source: src
    destination: dst
    objects: [{database: "${ var.plain }", all: true, filter: {}}]
outputs:
  user: ${ local.dsn_user }
  db: ${ var.plain }
  explicit: {value: "${ var.plain }", sensitive: true}
"""


def test_password_fields_are_sensitive_even_when_empty(write, load) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    [task] = load(root, var_args=["pw=s3cret"]).resources
    assert ("source_endpoint", "password") in task.sensitive_paths
    assert ("destination_endpoint", "password") in task.sensitive_paths


def test_value_derived_from_sensitive_variable_through_a_local_is_sensitive(write, load) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    [task] = load(root, var_args=["pw=s3cret"]).resources
    assert ("source_endpoint", "user") in task.sensitive_paths
    assert task.attributes["source_endpoint"]["user"] == "u-dts"


def test_values_from_plain_variables_are_not_sensitive(write, load) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    [task] = load(root, var_args=["pw=s3cret"]).resources
    assert not any(path[0] == "objects" for path in task.sensitive_paths)
    assert ("destination_endpoint", "user") not in task.sensitive_paths


def test_workspace_lists_sensitive_variables(write, load) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    assert load(root, var_args=["pw=s3cret"]).sensitive_variables == {"pw", "db_user"}


def test_outputs_are_sensitive_when_tainted_or_declared(write, load) -> None:
    root = write({"main.dts.yaml": DECLARATION})
    outputs = load(root, var_args=["pw=s3cret"]).evaluate_outputs({})
    assert (outputs["user"].sensitive, outputs["db"].sensitive, outputs["explicit"].sensitive) == (True, False, True)


def test_sensitive_value_never_appears_in_problems(write, problems) -> None:
    root = write({"main.dts.yaml": "variables:\n  pw: {sensitive: true, type: number}\n"})
    assert problems(root, var_args=["pw=hunter2"]) == [
        "main.dts.yaml:2: variable `pw` must be a number, got (sensitive value) (set by --var)"
    ]


def test_sensitive_text_value_is_kept_verbatim(write, load) -> None:
    root = write({"main.dts.yaml": "variables:\n  pw: {sensitive: true}\n"})
    assert load(root, var_args=["pw=0123"]).variables["pw"] == "0123"


def test_sensitive_module_input_taints_module_values(write, load) -> None:
    module = """
    variables:
      who: {}
    endpoints:
      x: {engine: mysql, host: x, user: "${ var.who }"}
      y: {engine: mysql, host: y}
    tasks:
      t: {type: migration, source: x, destination: y, objects: [{database: d, all: true}]}
    """
    root = write(
        {
            "main.dts.yaml": "variables:\n  pw: {sensitive: true}\nmodules:\n  m: {source: ./m, inputs: {who: '${ var.pw }'}}\n",
            "m/main.dts.yaml": module,
        }
    )
    [task] = load(root, var_args=["pw=s3cret"]).resources
    assert ("source_endpoint", "user") in task.sensitive_paths
