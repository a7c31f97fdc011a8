"""The package layering: the engine never reaches up to connectors or down to a driver, and no
package imports another that imports it back (docs/architecture.md)."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import dtsctl

ROOT = Path(dtsctl.__file__).parent
ENGINE_MAY_NOT_USE = ("dtsctl.connectors", "dtsctl.registry", "dtsctl.runtime", "pymysql", "pymysqlreplication", "hiredis",
                      "redis", "pymongo")
MODULE_STRING = re.compile(r"^(dtsctl(?:\.\w+)+)(?::\w+)?$")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def references(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (also under TYPE_CHECKING or inside a function),
    and every module it names in a string ("dtsctl.x.y" or "dtsctl.x.y:attribute")."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = MODULE_STRING.match(node.value)
            if match:
                found.add(match.group(1))
            elif node.value.split(".")[0].split(":")[0] in ENGINE_MAY_NOT_USE and node.value.isidentifier():
                found.add(node.value)
    return found


def uses(reference: str, prefix: str) -> bool:
    return reference == prefix or reference.startswith(prefix + ".")


def test_every_module_imports():
    for name in modules():
        if not name.endswith("__main__"):
            importlib.import_module(name)


def test_the_engine_imports_no_connector_registry_runtime_or_driver():
    offending = [
        f"{name} uses {reference}"
        for name, path in modules().items() if uses(name, "dtsctl.engine")
        for reference in sorted(references(path))
        if any(uses(reference, forbidden) for forbidden in ENGINE_MAY_NOT_USE)
    ]
    assert offending == []


def test_importing_the_engine_loads_no_driver():
    engine = [name for name in modules() if uses(name, "dtsctl.engine")]
    script = ("import importlib, sys\n"
              f"for name in {engine!r}: importlib.import_module(name)\n"
              f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ENGINE_MAY_NOT_USE!r} "
              "or m.startswith(('dtsctl.connectors', 'dtsctl.registry', 'dtsctl.runtime'))))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def package_of(name: str, known: dict[str, Path]) -> str:
    """A module's package (its folder); the modules directly in `dtsctl/` stand on their own."""
    path = known[name]
    if path.name == "__init__.py":
        return name
    package = name.rpartition(".")[0]
    return name if package == "dtsctl" else package


def test_no_cycle_among_packages():
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        source = package_of(name, known)
        for reference in references(path):
            while reference and reference not in known:
                reference = reference.rpartition(".")[0]
            if not reference or (known[reference].name == "__init__.py" and uses(name, reference)):
                continue  # a module's own enclosing packages are imported with it
            target = package_of(reference, known)
            if target != source:
                graph.setdefault(source, set()).add(target)
    cycles = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for following in sorted(graph.get(node, ())):
                if following == start:
                    cycles.append(" -> ".join([*path, start]))
                elif following not in seen:
                    seen.add(following)
                    stack.append((following, [*path, following]))
    assert cycles == []
