"""Every declaration problem is reported, each as `file:line: message`."""

from __future__ import annotations

from conftest import SQLITE_PAIR


def test_workspace_without_declarations_is_rejected(write, problems, tmp_path) -> None:
    root = write({"notes.txt": "hello"})
    [problem] = problems(root)
    assert problem.startswith(f"no *.dts.yaml files in {tmp_path}")


def test_invalid_yaml_names_file_and_line(write, problems) -> None:
    root = write({"main.dts.yaml": "endpoints:\n  a: {engine: sqlite\n  b: 1\n"})
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:3: invalid YAML:")


def test_unknown_key_reports_its_own_line_and_suggests(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": SQLITE_PAIR
            + """
tasks:
  t:
    type: migration
    source: a
    destinaton: b
    objects: [{database: main, all: true}]
"""
        }
    )
    assert problems(root) == ["main.dts.yaml:9: unknown key `destinaton` in task.t (did you mean `destination`?)"]


def test_unknown_section_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": "taks: {}\n"})
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:1: unknown section `taks` (did you mean `tasks`?)")


def test_unknown_endpoint_is_reported_at_the_reference(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": SQLITE_PAIR
            + """
tasks:
  t:
    type: migration
    source: a
    destination: c
    objects: [{database: main, all: true}]
"""
        }
    )
    assert problems(root) == ["main.dts.yaml:9: task.t: unknown endpoint `c`; declared endpoints are ['a', 'b']"]


def test_name_declared_twice_across_files(write, problems) -> None:
    root = write({"a.dts.yaml": SQLITE_PAIR, "b.dts.yaml": "endpoints:\n  a: {engine: sqlite, path: ./other.db}\n"})
    assert problems(root) == ["b.dts.yaml:2: `endpoint.a` is declared twice: here and at a.dts.yaml:2"]


def test_key_repeated_in_one_mapping_is_reported(write, problems) -> None:
    root = write({"main.dts.yaml": "endpoints:\n  a: {engine: sqlite, path: x}\n  a: {engine: sqlite, path: y}\n"})
    assert problems(root) == ["main.dts.yaml:3: key `a` appears twice in the same mapping (first at line 2)"]


def test_every_problem_is_listed_not_just_the_first(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              a: {engine: sqlite}
              b: {engine: oracle, path: x}
            tasks:
              t: {type: migration, source: x, destination: y, objects: [{database: main, all: true}]}
            """
        }
    )
    found = problems(root)
    assert found[0] == "main.dts.yaml:2: endpoint.a: a sqlite endpoint needs `path` (the database file)"
    assert found[1] == "main.dts.yaml:3: endpoint.b.engine: got \"oracle\"; expected mysql, redis, mongodb or sqlite, e.g. `engine: mysql`"
    assert len(found) == 4  # and both unknown endpoints of task.t


def test_source_equal_to_destination_is_rejected(write, problems) -> None:
    root = write(
        {"main.dts.yaml": SQLITE_PAIR + "tasks:\n  t: {type: migration, source: a, destination: a, objects: [{database: main, all: true}]}\n"}
    )
    assert problems(root) == ["main.dts.yaml:5: task.t: source and destination are the same endpoint `a`; name a different destination"]


def test_same_server_under_two_names_without_rename_is_rejected(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              x: {engine: mysql, host: db, port: 3306}
              y: {engine: mysql, host: db, port: 3306, user: other}
            tasks:
              t: {type: migration, source: x, destination: y, objects: [{database: shop, all: true}]}
            """
        }
    )
    [problem] = problems(root)
    assert problem.startswith("main.dts.yaml:5: task.t: `x` and `y` are the same server, so database shop would be copied onto itself")


def test_subscription_with_destination_is_rejected(write, problems) -> None:
    root = write(
        {"main.dts.yaml": SQLITE_PAIR + "tasks:\n  t: {type: subscription, source: a, destination: b, objects: [{database: main, all: true}]}\n"}
    )
    assert problems(root) == ["main.dts.yaml:5: task.t: a subscription task has no `destination`"]


def test_two_tasks_writing_the_same_table_are_rejected(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              bj: {engine: mysql, host: bj}
              gz: {engine: mysql, host: gz}
              sh: {engine: mysql, host: sh}
            tasks:
              a: {type: synchronization, source: bj, destination: sh, objects: [{database: shop, tables: [orders, items]}]}
              b: {type: synchronization, source: gz, destination: sh, objects: [{database: shop, tables: [orders]}]}
              c: {type: synchronization, source: gz, destination: sh, objects: [{database: shop, tables: [customers]}]}
            """
        }
    )
    assert problems(root) == [
        "main.dts.yaml:7: task.a and task.b both write shop.orders on endpoint sh; give each task its own objects"
    ]


def test_sentinel_endpoints_are_one_server_when_their_sentinels_and_master_name_are(write, problems) -> None:
    root = write(
        {
            "main.dts.yaml": """
            endpoints:
              src: {engine: redis, host: src}
              east: {engine: redis, sentinel: {hosts: ["e1:26379", "e2:26379"], master: mymaster}}
              east2: {engine: redis, sentinel: {hosts: ["e2:26379", "e1:26379"], master: mymaster}}
              west: {engine: redis, sentinel: {hosts: ["w1:26379", "w2:26379"], master: mymaster}}
            tasks:
              a: {type: synchronization, source: src, destination: east, objects: [{database: 0}]}
              b: {type: synchronization, source: src, destination: west, objects: [{database: 0}]}
              c: {type: synchronization, source: src, destination: east2, objects: [{database: 0}]}
            """
        }
    )
    assert problems(root) == [
        "main.dts.yaml:9: task.a and task.c both write 0 (all of it) on endpoint east2; give each task its own objects"
    ]


def test_relational_object_without_tables_or_all_is_rejected(write, problems) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "tasks:\n  t: {type: migration, source: a, destination: b, objects: [{database: main}]}\n"})
    assert problems(root) == ["main.dts.yaml:5: task.t: objects[0] (database main) needs `tables: [...]` or `all: true`"]


def test_plain_task_resource_attributes(write, load, tmp_path) -> None:
    root = write({"main.dts.yaml": SQLITE_PAIR + "tasks:\n  t: {type: migration, source: a, destination: b, objects: [{database: main, all: true}]}\n"})
    [resource] = load(root).resources
    assert (resource.address, resource.name, resource.type, resource.file, resource.line) == ("task.t", "t", "task", "main.dts.yaml", 5)
    attributes = resource.attributes
    assert attributes["source_endpoint"]["path"] == str(tmp_path / "a.db")
    assert attributes["phases"] == ["schema", "full", "incremental"]
    assert attributes["objects"][0]["dml"] == ["insert", "update", "delete"]
    assert attributes["workspace"] == str(tmp_path)
    assert attributes["topology"] is None
    assert attributes["throttle"] == {"rps": 0, "mbps": 0}


def test_a_known_key_at_the_wrong_level_points_at_the_indentation(write, problems) -> None:
    root = write({"main.dts.yaml": """
        endpoints:
          a: {engine: sqlite, path: ./a.db}
          b: {engine: sqlite, path: ./b.db}
        tasks:
          copy:
            type: synchronization
            source: a
            destination: b
            objects:
              - database: main
                tables: [t]
                retry: {other_minutes: 1}
        """})
    assert problems(root) == [
        "main.dts.yaml:12: key `retry` is not allowed in task.copy.objects[0]; check the indentation: it belongs elsewhere"]


def test_a_task_with_several_problems_reports_them_all_in_file_order(write, problems) -> None:
    root = write({"main.dts.yaml": """
        endpoints:
          a: {engine: sqlite, path: ./a.db}
        topologies:
          p: {type: two-way, endpoints: [a, b], objects: []}
        tasks:
          t:
            type: synchronization
            source: a
            destination: nope
          s:
            type: subscription
            source: zz
            objects: [{database: main, all: true}]
            deliver_to: {endpoint: cachee, stream: s}
        """})
    assert problems(root) == [
        "main.dts.yaml:4: topology.p.objects: got an empty list; expected a list of 1 or more mappings, e.g. `objects: [{database: shop, all: true}]`",
        "main.dts.yaml:4: topology.p: unknown endpoint `b`; declared endpoints are ['a']",
        "main.dts.yaml:6: task.t: `objects` is required, e.g. `objects: [{database: shop, tables: [orders]}]`",
        "main.dts.yaml:9: task.t: unknown endpoint `nope`; declared endpoints are ['a']",
        "main.dts.yaml:12: task.s: unknown endpoint `zz`; declared endpoints are ['a']",
        "main.dts.yaml:14: task.s: unknown endpoint `cachee`; declared endpoints are ['a']",
    ]


def test_problems_of_a_valid_task_with_an_unknown_destination_are_all_listed(write, problems) -> None:
    root = write({"main.dts.yaml": """
        endpoints:
          a: {engine: sqlite, path: ./a.db}
        tasks:
          t: {type: synchronization, source: a, destination: nope, objects: [{database: main}]}
        """})
    assert problems(root) == [
        "main.dts.yaml:4: task.t: unknown endpoint `nope`; declared endpoints are ['a']",
        "main.dts.yaml:4: task.t: objects[0] (database main) needs `tables: [...]` or `all: true`",
    ]


def test_on_position_lost_takes_fail_or_reseed_and_reseed_needs_a_copy(write, problems, load) -> None:
    task = "tasks:\n  t: {type: synchronization, source: a, destination: b, objects: [{database: main, all: true}], "
    root = write({"main.dts.yaml": SQLITE_PAIR + task + "on_position_lost: resync}\n"})
    assert problems(root) == ['main.dts.yaml:5: task.t.on_position_lost: got "resync"; expected fail or reseed, '
                              "e.g. `on_position_lost: reseed`"]
    root = write({"main.dts.yaml": SQLITE_PAIR + task + "phases: [incremental], on_position_lost: reseed}\n"})
    assert problems(root) == ["main.dts.yaml:5: task.t: `on_position_lost: reseed` copies everything again: it "
                              "needs `full` in `phases`"]
    root = write({"main.dts.yaml": SQLITE_PAIR + "tasks:\n  t: {type: subscription, source: a, "
                                                 "objects: [{database: main, all: true}], on_position_lost: reseed}\n"})
    assert problems(root) == ["main.dts.yaml:5: task.t: `on_position_lost` is for tasks with a destination "
                              "(a subscription always resyncs)"]
    root = write({"main.dts.yaml": SQLITE_PAIR + task + "on_position_lost: fail}\n"})
    assert "on_position_lost" not in load(root).resources[0].attributes  # the default: recorded tasks plan no change
    root = write({"main.dts.yaml": SQLITE_PAIR + task + "on_position_lost: reseed}\n"})
    assert load(root).resources[0].attributes["on_position_lost"] == "reseed"
