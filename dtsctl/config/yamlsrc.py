"""Reading YAML while remembering the line of every key and list item.

PyYAML's constructors drop positions, so we compose the node graph and build
plain Python values ourselves, recording `path -> line` on the way. A path is
the tuple of keys and indexes that reaches a value (as in pydantic's `loc`).
"""

from __future__ import annotations

import functools
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
# the bounded pure-Python one (`_BoundedLoader`) describes a syntax error (see `_described`).
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)

# `${ expr }` and `%{ directive }` on one line. The contract writes them unquoted, even inside
# flow mappings (`{password: ${ var.pw }}`), where plain YAML would read the braces as syntax.
# Quoted text inside an expression is skipped whole, so an unterminated `${ x"}` is left to the
# template step (which reports it at its line) instead of swallowing the YAML quote and brace after it.
_TEMPLATE = re.compile(r"""[$%]\{(?:[^\n}"']|"[^"\n]*"|'[^'\n]*')*?\}""")


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


def nearest_line(lines: dict[YamlPath, int], path: YamlPath) -> int:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        found = lines.get(tuple(path[:end]))
        if found is not None:
            return found
    return 1


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
        return nearest_line(self.lines, path)

    def at(self, path: YamlPath) -> Location:
        return Location(self.path, self.line(path))


def parse_yaml(text: str, path: Path) -> YamlDoc:
    """Parse `text`; raises YamlSyntaxError for invalid YAML, a key repeated in one mapping,
    or a document nested or aliased beyond the limits (a declaration is untrusted input)."""
    shield = TemplateShield(text)
    loader = _FAST_LOADER(shield.text) if _FAST_LOADER else _BoundedLoader(shield.text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(path, None)
        if node is not None:
            doc.lines[()] = node.start_mark.line + 1
            built = _Builder(loader, doc.lines, node).build(node, ())
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
    """The pure-Python parser's account of a syntax error: it names the character or alias at fault
    where libyaml does not, and stops at MAX_DEPTH where libyaml stops at its own, deeper limit."""
    loader = _BoundedLoader(text)
    try:
        loader.get_single_node()
    except yaml.MarkedYAMLError as described:
        return described
    finally:
        loader.dispose()
    return error


def _count_nodes(root: yaml.Node) -> int:
    """The distinct nodes of a composed document (an alias adds none): the alias budget grows with it."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            pending.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return len(seen)


def load_yaml(path: Path) -> YamlDoc:
    """Parse the file at `path`; raises YamlSyntaxError for a file that is not UTF-8 text too."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} on this line); save the file as UTF-8") from None
    return parse_yaml(text, path)


MAX_DEPTH = 100  # levels of nesting; a declaration needs a handful
# Values an alias (`*name`) may build by repeating an anchored part: a few per value written in the
# document, so that a few hundred bytes cannot expand to millions of values ("billion laughs").
MIN_ALIAS_VALUES = 10_000
ALIAS_VALUES_PER_NODE = 4
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep; flatten the structure"


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses documents nested deeper than MAX_DEPTH.

    Composing recurses once per level, and the scanner slows down quadratically
    with the number of open `[`/`{`, so both stop at the limit.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: type) -> None:
        super().fetch_flow_collection_start(token_class)
        if self.flow_level > MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, _TOO_DEEP, self.get_mark())

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, _TOO_DEEP, self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Builds plain values from composed nodes, recording lines, refusing an alias bomb."""

    def __init__(self, loader: yaml.SafeLoader, lines: dict[YamlPath, int], root: yaml.Node) -> None:
        self.loader = loader
        self.lines = lines
        self.root = root
        self.seen: set[int] = set()
        self.repeated = 0  # values built again because an alias repeats their node
        self.in_alias = 0

    @functools.cached_property
    def max_repeated(self) -> int:
        """Counted only once aliases repeat more than MIN_ALIAS_VALUES values: most documents never pay for it."""
        return max(MIN_ALIAS_VALUES, ALIAS_VALUES_PER_NODE * _count_nodes(self.root))

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        if len(path) >= MAX_DEPTH:  # libyaml composed it (its own limit is higher): report it as _BoundedLoader does
            raise yaml.composer.ComposerError(None, None, _TOO_DEEP, node.start_mark)
        alias = id(node) in self.seen
        self.seen.add(id(node))
        self.in_alias += alias
        try:
            if self.in_alias:
                self.repeated += 1
                if self.repeated > MIN_ALIAS_VALUES and self.repeated > self.max_repeated:
                    raise YamlSyntaxError(nearest_line(self.lines, path), f"aliases (`*name`) expand to more than {self.max_repeated:,} values "
                                          "(nested aliases multiply); write the repeated parts out or alias smaller ones")
            return self._build(node, path)
        finally:
            self.in_alias -= alias

    def _build(self, node: yaml.Node, path: YamlPath) -> Any:
        loader, lines = self.loader, self.lines
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, (str, int, bool)) or key is None:
                    kind = "a list" if isinstance(key, list) else "a mapping" if isinstance(key, dict) else repr(key)
                    raise YamlSyntaxError(line, f"invalid YAML: a key must be text or a number, not {kind}")
                if key in result:
                    raise YamlSyntaxError(line, f"key `{key}` appears twice in the same mapping (first at line {lines[path + (key,)]})")
                lines[path + (key,)] = line
                result[key] = self.build(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                lines[path + (index,)] = item.start_mark.line + 1
                items.append(self.build(item, path + (index,)))
            return items
        return loader.construct_object(node, deep=True)
