"""Reading YAML while remembering the line of every key and list item.

PyYAML's constructors drop positions, so we compose the node graph and build
plain Python values ourselves, recording `path -> line` on the way. A path is
the tuple of keys and indexes that reaches a value (as in pydantic's `loc`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dtsctl.config.problems import Location

YamlPath = tuple[Any, ...]

# libyaml's parser when PyYAML was built with it (the wheels are): the pure-Python one is
# several times slower, which large workspaces feel. Both give the same nodes and marks;
# the pure-Python one only describes a syntax error (see `_described`).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# `${ expr }` and `%{ directive }` on one line. The contract writes them unquoted, even inside
# flow mappings (`{password: ${ var.pw }}`), where plain YAML would read the braces as syntax.
_TEMPLATE = re.compile(r"[$%]\{[^\n]*?\}")


class TemplateShield:
    """Swaps template expressions for inert tokens before parsing, and back in every parsed string."""

    def __init__(self, text: str) -> None:
        self._originals: list[str] = []
        nonce = secrets.token_hex(4)
        self._token = re.compile(f"DTSTPL{nonce}N(\\d+)X")
        self.text = _TEMPLATE.sub(lambda m: self._swap(m.group(0), nonce), text)

    def _swap(self, original: str, nonce: str) -> str:
        self._originals.append(original)
        return f"DTSTPL{nonce}N{len(self._originals) - 1}X"

    def restore(self, value: Any) -> Any:
        """`value` with every token put back, recursively through lists and mappings."""
        if isinstance(value, str) and self._originals:
            return self._token.sub(lambda m: self._originals[int(m.group(1))], value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.restore(item) for item in value)
        if isinstance(value, dict):
            return {self.restore(key): self.restore(item) for key, item in value.items()}
        return value


class YamlSyntaxError(Exception):
    """The text is not valid YAML; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class YamlDoc:
    """One parsed file: its data and where each part of it was written."""

    path: Path
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line(self, path: YamlPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1

    def at(self, path: YamlPath) -> Location:
        return Location(self.path, self.line(path))


def parse_yaml(text: str, path: Path) -> YamlDoc:
    """Parse `text`; raises YamlSyntaxError for invalid YAML or a key repeated in one mapping."""
    shield = TemplateShield(text)
    loader = _Loader(shield.text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(path, None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            built = _build(loader, node, (), doc.lines)
            doc.data = shield.restore(built)
            doc.lines = {shield.restore(key): line for key, line in doc.lines.items()}
        return doc
    except yaml.MarkedYAMLError as found:
        exc = _described(shield.text, found)
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()


def _described(text: str, error: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """PyYAML's account of a syntax error, which names the character or alias at fault where libyaml does not."""
    loader = yaml.SafeLoader(text)
    try:
        loader.get_single_node()
    except yaml.MarkedYAMLError as described:
        return described
    except RecursionError:  # nested deeper than Python's stack: libyaml's own message says so
        pass
    finally:
        loader.dispose()
    return error


def load_yaml(path: Path) -> YamlDoc:
    return parse_yaml(path.read_text(encoding="utf-8"), path)


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, bool)) or key is None:
                raise YamlSyntaxError(line, f"invalid YAML: a key must be a plain scalar, not {key!r}")
            if key in result:
                raise YamlSyntaxError(line, f"key `{key}` appears twice in the same mapping (first at line {lines[path + (key,)]})")
            lines[path + (key,)] = line
            result[key] = _build(loader, value_node, path + (key,), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            items.append(_build(loader, item, path + (index,), lines))
        return items
    return loader.construct_object(node, deep=True)
