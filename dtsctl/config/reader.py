"""Reading one module folder: every `*.dts.yaml`, merged by section.

Nothing is evaluated here; entries keep their raw YAML and their position, so
later steps can report problems at the right `file:line`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtsctl.config.model import Declaration
from dtsctl.config.problems import Location, Problems
from dtsctl.config.yamlsrc import YamlDoc, YamlPath, YamlSyntaxError, load_yaml

DECLARATION_GLOB = "*.dts.yaml"
SECTIONS: tuple[str, ...] = tuple(Declaration.model_fields)
# Address prefix of each section's entries, for messages ("task.orders_sync").
SECTION_ADDRESS = {
    "variables": "var",
    "locals": "local",
    "endpoints": "endpoint",
    "tasks": "task",
    "topologies": "topology",
    "modules": "module",
    "outputs": "output",
    "workspace": "workspace",
}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Entry:
    """One named item of a section (a variable, an endpoint, a task, ...) as written."""

    section: str
    name: str
    raw: Any
    doc: YamlDoc

    @property
    def address(self) -> str:
        return f"{SECTION_ADDRESS[self.section]}.{self.name}"

    def at(self, path: YamlPath = ()) -> Location:
        """Where the part `path` (relative to this entry) was written."""
        return self.doc.at((self.section, self.name, *path))


@dataclass
class RawModule:
    """A module folder's declaration files, merged but not evaluated."""

    folder: Path
    files: list[Path]
    sections: dict[str, dict[str, Entry]] = field(default_factory=lambda: {s: {} for s in SECTIONS})

    def entries(self, section: str) -> dict[str, Entry]:
        return self.sections[section]


def read_module(folder: Path, problems: Problems) -> RawModule:
    """Read and merge `folder/*.dts.yaml` (the caller checks that there are some)."""
    files = sorted(folder.glob(DECLARATION_GLOB))
    module = RawModule(folder, files)
    for path in files:
        try:
            doc = load_yaml(path)
        except YamlSyntaxError as exc:
            problems.add(Location(path, exc.line), exc.message)
            continue
        _merge(doc, module, problems)
    return module


def _merge(doc: YamlDoc, module: RawModule, problems: Problems) -> None:
    if doc.data is None:
        return
    if not isinstance(doc.data, dict):
        problems.add(doc.at(()), f"a declaration file must be a mapping of sections ({', '.join(SECTIONS)})")
        return
    for section, body in doc.data.items():
        if section not in SECTIONS:
            problems.add(doc.at((section,)), f"unknown section `{section}`{did_you_mean(str(section), SECTIONS)}; sections are {', '.join(SECTIONS)}")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.add(doc.at((section,)), f"`{section}` must be a mapping of names to definitions")
            continue
        for name, raw in body.items():
            entry = Entry(section, str(name), raw, doc)
            if not NAME.match(entry.name):
                problems.add(entry.at(), f"invalid name `{name}` in {section}: use letters, digits, `_` and `-`, starting with a letter or `_`")
                continue
            earlier = module.sections[section].get(entry.name)
            if earlier is not None:
                problems.add(entry.at(), f"`{entry.address}` is declared twice: here and at {earlier.at()}")
                continue
            module.sections[section][entry.name] = entry


def did_you_mean(word: str, choices: Any) -> str:
    """' (did you mean `x`?)' for a close match among `choices`, else ''."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""
