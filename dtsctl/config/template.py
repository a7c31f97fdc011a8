"""HCL-style templating in YAML strings, on jinja2.

`${ expr }` interpolates and `%{ for x in xs } ... %{ endfor }` /
`%{ if c } ... %{ endif }` are directives. A string that is exactly one
`${ expr }` yields the expression's own value (a list stays a list); any other
template renders to a string. Unknown names are errors, never empty strings.

Names resolve through `Space` objects that also report whether what was read
is sensitive, so a rendered value is known to be tainted by a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from dtsctl.config.resources import AttributePath

if TYPE_CHECKING:
    import jinja2


class TemplateError(Exception):
    """An expression cannot be evaluated; the message names what is wrong."""


class Poisoned(Exception):
    """An expression read a value that already failed; its problem is reported elsewhere."""


@cache
def _environment() -> jinja2.Environment:
    """Built, and jinja2 imported (0.1 s), the first time a string holds a template: most
    declarations hold none, and every CLI command reads one."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        variable_start_string="${",
        variable_end_string="}",
        block_start_string="%{",
        block_end_string="}",
        comment_start_string="%{/*",
        comment_end_string="*/}",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


_SINGLE = re.compile(r"\A\$\{(?P<expr>[^{}]*)\}\Z", re.DOTALL)
_UNDEFINED_NAME = re.compile(r"^'(?P<name>[^']+)' is undefined$")


class Tracker:
    """Collects what one rendering read."""

    def __init__(self) -> None:
        self.tainted = False


Lookup = Callable[[str], tuple[Any, bool]]


class Space:
    """A namespace such as `var` or `module.dr`: looks a name up, saying whether it is sensitive."""

    def __init__(self, label: str, lookup: Lookup) -> None:
        self.label = label
        self.lookup = lookup

    def bind(self, tracker: Tracker) -> "_Bound":
        return _Bound(self, tracker)


def mapping_space(
    label: str,
    values: Mapping[str, Any],
    *,
    sensitive: set[str] | frozenset[str] = frozenset(),
    failed: set[str] | frozenset[str] = frozenset(),
    missing: str | None = None,
) -> Space:
    """A Space over a mapping. `missing` is the message for an unknown name (`{name}` is substituted)."""

    def lookup(name: str) -> tuple[Any, bool]:
        if name in failed:
            raise Poisoned(name)
        if name not in values:
            raise TemplateError((missing or "unknown name `{label}.{name}`").format(label=label, name=name))
        return values[name], name in sensitive

    return Space(label, lookup)


class _Bound:
    """What an expression sees: attribute or item access on a Space."""

    __slots__ = ("_space", "_tracker")

    def __init__(self, space: Space, tracker: Tracker) -> None:
        self._space = space
        self._tracker = tracker

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: Any) -> Any:
        value, sensitive = self._space.lookup(str(name))
        if sensitive:
            self._tracker.tainted = True
        if isinstance(value, Space):
            return value.bind(self._tracker)
        return value

    def __str__(self) -> str:
        raise TemplateError(f"`{self._space.label}` is a namespace, not a value; name one of its entries")

    def __iter__(self) -> Any:
        raise TemplateError(f"`{self._space.label}` is a namespace, not a list; name one of its entries")


@dataclass
class Scope:
    """The top-level names (`var`, `local`, `env`, `module`, ...) an expression may read."""

    spaces: dict[str, Space] = field(default_factory=dict)

    def with_space(self, name: str, space: Space) -> "Scope":
        return Scope({**self.spaces, name: space})

    def render(self, text: str) -> tuple[Any, bool]:
        """(value, tainted) of one string; raises TemplateError or Poisoned."""
        if "${" not in text and "%{" not in text:
            return text, False
        import jinja2

        tracker = Tracker()
        context = {name: space.bind(tracker) for name, space in self.spaces.items()}
        try:
            single = _SINGLE.match(text)
            if single:
                value = _expression(single.group("expr").strip())(**context)
                if isinstance(value, jinja2.Undefined):
                    raise TemplateError(_undefined_message(value))
                if isinstance(value, _Bound):
                    str(value)  # raises: a bare namespace is not a value
            else:
                value = _template(text).render(**context)
        except (TemplateError, Poisoned):
            raise
        except jinja2.UndefinedError as exc:
            raise TemplateError(_friendly_undefined(str(exc))) from None
        except jinja2.TemplateSyntaxError as exc:
            if exc.message and exc.message.startswith("unexpected end of template"):
                raise TemplateError("invalid template: a `${` or `%{` is not closed with `}` on this line") from None
            raise TemplateError(f"invalid template: {exc.message}") from None
        except Exception as exc:  # a type error inside the user's expression
            raise TemplateError(f"cannot evaluate {text.strip()!r}: {exc}") from None
        return value, tracker.tainted


def render_tree(
    value: Any, scope: Scope, errors: list[tuple[AttributePath, str | None]], path: AttributePath = ()
) -> tuple[Any, set[AttributePath]]:
    """Render every string in a YAML tree.

    Returns the rendered tree and the paths whose value was derived from a
    sensitive name (the whole subtree below such a path is sensitive). Problems
    are appended to `errors` as (path, message); message None means the value
    depended on something that already failed and was reported.
    """
    tainted: set[AttributePath] = set()
    if isinstance(value, str):
        try:
            rendered, is_tainted = scope.render(value)
        except TemplateError as exc:
            errors.append((path, str(exc)))
            return None, tainted
        except Poisoned:
            errors.append((path, None))
            return None, tainted
        if is_tainted:
            tainted.add(path)
        return rendered, tainted
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            result[key], sub = render_tree(item, scope, errors, path + (key,))
            tainted |= sub
        return result, tainted
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            rendered, sub = render_tree(item, scope, errors, path + (index,))
            items.append(rendered)
            tainted |= sub
        return items, tainted
    return value, tainted


def references(value: Any, namespace: str) -> set[str]:
    """Names read as `namespace.NAME` (or `namespace["NAME"]`) anywhere in a raw YAML tree."""
    pattern = re.compile(rf"\b{re.escape(namespace)}(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
    found: set[str] = set()
    if isinstance(value, str):
        for match in pattern.finditer(value):
            found.add(match.group(1) or match.group(2))
    elif isinstance(value, dict):
        for item in value.values():
            found |= references(item, namespace)
    elif isinstance(value, list):
        for item in value:
            found |= references(item, namespace)
    return found


@lru_cache(maxsize=1024)
def _expression(source: str) -> Any:
    import jinja2

    try:
        return _environment().compile_expression(source, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"invalid expression `{source}`: {exc.message}") from None


@lru_cache(maxsize=1024)
def _template(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def _undefined_message(value: jinja2.Undefined) -> str:
    return _friendly_undefined(value._undefined_message)  # noqa: SLF001 - jinja's own wording


def _friendly_undefined(message: str) -> str:
    match = _UNDEFINED_NAME.match(message)
    if match:
        return f"unknown name `{match.group('name')}` (expressions read var., local., env. and module.)"
    return f"undefined value: {message}"
