"""`dtsctl fmt`: a conservative, comment-preserving canonical form for declaration files.

We deliberately do not load and re-dump the YAML: PyYAML drops comments, and a
round-tripping library (ruamel.yaml) would be a new dependency for a cosmetic
command. Instead the text is rewritten line by line, which keeps every comment
and every line in place:

* nesting is indented by 2 spaces (block scalar bodies keep their own relative indentation);
* `key:    value` becomes `key: value` and `-   item` becomes `- item`;
* trailing whitespace goes, runs of blank lines shrink to one, the file ends with one newline.

The result must parse to exactly the same data as the input; if it would not
(an exotic construct the line rules do not understand), only the whitespace
clean-up is applied, and if even that changes the data the text is returned
unchanged. Formatting is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from dtsctl.config.yamlsrc import TemplateShield

from dtsctl.errors import DtsError

_BLOCK_SCALAR = re.compile(r"(?:^|[:\-]\s+|^-\s*)[|>][-+0-9]*\s*(?:#.*)?$")
_KEY_SPACING = re.compile(r"^((?:- )*)([A-Za-z0-9_.\-]+):[ ]{2,}(?=\S)")
_DASH_SPACING = re.compile(r"^-[ ]{2,}(?=\S)")


def format_yaml(text: str) -> str:
    """The canonical form of a declaration file's text; raises DtsError when it is not valid YAML."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    original = _data(text)
    for candidate in (_reindent(text), _clean_whitespace(text)):
        if _data(candidate, strict=False) == original:
            return candidate
    return text


def _data(text: str, strict: bool = True) -> Any:
    try:
        shield = TemplateShield(text)
        return shield.restore(list(yaml.safe_load_all(shield.text)))
    except yaml.YAMLError as exc:
        if not strict:
            return _Unparsable()
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise DtsError(f"cannot format: invalid YAML{where}; fix it first (dtsctl validate shows the problem)") from None


class _Unparsable:
    """Compares unequal to any data."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def _clean_whitespace(text: str) -> str:
    return _finish([(line.rstrip(), False) for line in text.split("\n")])


def _reindent(text: str) -> str:
    out: list[tuple[str, bool]] = []  # (line, inside a block scalar: kept verbatim)
    stack: list[tuple[int, int]] = [(0, 0)]  # (original indent, new indent) of open levels
    block: tuple[int, int] | None = None  # (original indent of the owner line, shift) while in a block scalar
    for raw in text.split("\n"):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if block is not None:
            if not stripped or indent > block[0]:
                out.append((" " * (indent + block[1]) + raw[indent:] if stripped else "", True))
                continue
            block = None
        if not stripped:
            out.append(("", False))
            continue
        if stripped.startswith("#"):
            out.append((" " * _mapped(stack, indent) + stripped, False))
            continue
        while len(stack) > 1 and stack[-1][0] > indent:
            stack.pop()
        if stack[-1][0] != indent:
            stack.append((indent, stack[-1][1] + 2 if indent > stack[-1][0] else stack[-1][1]))
        new = stack[-1][1]
        content = _KEY_SPACING.sub(r"\1\2: ", _DASH_SPACING.sub("- ", raw[indent:].rstrip()))
        out.append((" " * new + content, False))
        if _BLOCK_SCALAR.search(_without_comment(content)):
            block = (indent, new - indent)
    return _finish(out)


def _mapped(stack: list[tuple[int, int]], indent: int) -> int:
    """The new indent of a comment at `indent`, without changing the open levels."""
    for original, new in reversed(stack):
        if original == indent:
            return new
        if original < indent:
            return new + 2
    return 0


def _without_comment(content: str) -> str:
    """`content` without a trailing ` # comment` (quotes are not parsed: used only to spot `|`/`>`)."""
    match = re.search(r"\s#", content)
    return content[: match.start()] if match and content.count("'") % 2 == 0 and content.count('"') % 2 == 0 else content


def _finish(lines: list[tuple[str, bool]]) -> str:
    """Join lines, dropping leading, trailing and repeated blank lines (except inside block scalars)."""
    result: list[str] = []
    for line, verbatim in lines:
        if not verbatim and not line.strip() and (not result or not result[-1].strip()):
            continue
        result.append(line)
    while result and not result[-1].strip():
        result.pop()
    return "\n".join(result) + "\n" if result else ""
