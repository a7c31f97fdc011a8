"""Declaration files are untrusted input: bytes that are not text, deep nesting and alias bombs
are refused quickly, at `file:line`, without exhausting time or memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dtsctl.config.yamlsrc import MAX_DEPTH, MIN_ALIAS_VALUES

ENDPOINT = "endpoints:\n  a: {engine: sqlite, path: ./a.db}\n"


def alias_bomb(levels: int = 9) -> str:
    """'Billion laughs': each anchor repeats the previous one nine times (9**levels values, ~400 bytes)."""
    lines = ["locals:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def deep_nesting(levels: int = 10_000) -> str:
    return ENDPOINT + "locals:\n  deep: " + "[" * levels + "]" * levels + "\n"


def test_a_file_that_is_not_utf8_is_named(write, problems, tmp_path: Path) -> None:
    root = write({"main.dts.yaml": ENDPOINT})
    (tmp_path / "x.dts.yaml").write_bytes(b"endpoints:\n  b: {engine: sqlite, path: \xe9.db}\n")
    assert problems(root) == ["x.dts.yaml:2: not UTF-8 text (byte 0xe9 on this line); save the file as UTF-8"]


def test_a_variables_file_that_is_not_utf8_is_named(write, problems, tmp_path: Path) -> None:
    root = write({"main.dts.yaml": "variables:\n  v: {default: 1}\n"})
    (tmp_path / "prod.dtsvars.yaml").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert problems(root) == ["prod.dtsvars.yaml:1: not UTF-8 text (byte 0x89 on this line); save the file as UTF-8"]


def test_nesting_beyond_the_limit_is_refused_at_its_line(write, problems) -> None:
    root = write({"main.dts.yaml": deep_nesting()})
    assert problems(root) == [f"main.dts.yaml:4: invalid YAML: nested more than {MAX_DEPTH} levels deep; flatten the structure"]


def test_block_nesting_beyond_the_limit_is_refused(write, problems) -> None:
    nested = "".join(f"{'  ' * level}k{level}:\n" for level in range(MAX_DEPTH + 5))
    root = write({"main.dts.yaml": "locals:\n" + "".join("  " + line + "\n" for line in nested.splitlines())})
    assert problems(root) == [f"main.dts.yaml:{MAX_DEPTH}: invalid YAML: nested more than {MAX_DEPTH} levels deep; flatten the structure"]


def test_nesting_within_the_limit_is_accepted(write, load) -> None:
    root = write({"main.dts.yaml": ENDPOINT + "locals:\n  deep: " + "[" * 90 + "]" * 90 + "\n"})
    value, depth = load(root).declaration.locals["deep"], 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == 90


def test_an_alias_bomb_is_refused(write, problems) -> None:
    root = write({"main.dts.yaml": alias_bomb()})
    assert problems(root) == [
        f"main.dts.yaml:2: aliases (`*name`) expand to more than {MIN_ALIAS_VALUES:,} values (nested aliases multiply); "
        "write the repeated parts out or alias smaller ones"
    ]


def test_ordinary_aliases_are_accepted(write, load) -> None:
    root = write({"main.dts.yaml": ENDPOINT + """
        locals:
          tables: &tables [orders, items]
          again: *tables
          defaults: &defaults {engine: sqlite}
        """.replace("\n        ", "\n")})
    assert load(root).declaration.locals["again"] == ["orders", "items"]


def test_hostile_files_fail_fast_and_small(tmp_path: Path) -> None:
    """Measured in a fresh process: its peak memory (VmHWM, which belongs to the process's own
    address space; ru_maxrss would carry over the forked test runner's) is that of this one load."""
    for name, text in {"bomb": alias_bomb(), "deep": deep_nesting()}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "main.dts.yaml").write_text(text)
        script = f"""
import json, re, time
from pathlib import Path
from dtsctl.config import load_workspace
from dtsctl.errors import ValidationFailed
start = time.perf_counter()
try:
    load_workspace(Path({str(folder)!r}), environ={{}})
except ValidationFailed as failure:
    problems = failure.problems
print(json.dumps({{"seconds": time.perf_counter() - start, "problems": problems,
                  "peak_mb": int(re.search(r"VmHWM:\\s*(\\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024}}))
"""
        measured = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
        assert len(measured["problems"]) == 1, measured
        assert measured["seconds"] < 0.5, measured
        assert measured["peak_mb"] < 100, measured


def test_an_unterminated_expression_in_a_flow_mapping_is_reported_at_its_line(write, problems) -> None:
    root = write({"main.dts.yaml": """
        endpoints:
          dst2: {engine: sqlite, path: "./d-${ var.dir.db"}
          a: {engine: sqlite, path: ./a.db}

        """})
    assert problems(root) == ["main.dts.yaml:2: endpoint.dst2: invalid template: a `${` or `%{` is not closed with `}` on this line"]


def test_quotes_inside_an_expression_in_a_flow_mapping_still_parse(write, load) -> None:
    root = write({"main.dts.yaml": """
        locals:
          names: {a: "x"}
        endpoints:
          a: {engine: sqlite, path: ${ local.names["a"] }.db}
        """})
    assert load(root).declaration.endpoints["a"].path.endswith("/x.db")
