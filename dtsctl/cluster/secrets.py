"""Secrets in the cluster runtime: never written to etcd, resolved by each node.

`apply` replaces every sensitive value of a task's attributes with a reference
`{"secret": NAME, "check": HASH}`. NAME is the endpoint's name and the field's path
(`src.password`, `dst.sentinel.password`), or the task's address and the path for a
value outside an endpoint. A node looks NAME up in its environment
(`DTSCTL_SECRET_SRC_PASSWORD`) and then in its secret file (YAML: `src.password: ...`),
and checks the value against HASH (salted with the task id), so a node holding another
password than the declaration says refuses to run the task instead of failing at the database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dtsctl.errors import DtsError
from dtsctl.state.sensitive import effective_sensitive_paths, hash_secret, replace_at_paths

ENV_PREFIX = "DTSCTL_SECRET_"
_ENDPOINT_NAMES = {"source_endpoint": "source", "destination_endpoint": "destination"}


def secret_name(address: str, attributes: Mapping[str, Any], path: Sequence[str | int]) -> str:
    endpoint = _ENDPOINT_NAMES.get(str(path[0])) if path else None
    if endpoint and attributes.get(endpoint):
        return ".".join([str(attributes[endpoint]), *map(str, path[1:])])
    return ".".join([address, *map(str, path)])


def env_name(name: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def redact(address: str, task_id: str, attributes: dict[str, Any],
           sensitive_paths: Iterable[Sequence[str | int]]) -> dict[str, Any]:
    """`attributes` with each secret replaced by its reference."""
    result = attributes
    for path in effective_sensitive_paths(attributes, sensitive_paths):
        name = secret_name(address, attributes, path)
        result = replace_at_paths(result, [path], lambda value, name=name: {"secret": name,
                                                                           "check": hash_secret(value, task_id)})
    return result


class SecretSource:
    """A node's secrets: its environment first, then its secret file (a YAML mapping NAME: value)."""

    def __init__(self, file: Path | None = None, environ: Mapping[str, str] = os.environ) -> None:
        self.file = file
        self.environ = environ

    def _from_file(self) -> dict[str, Any]:
        if self.file is None:
            return {}
        try:
            data = yaml.safe_load(self.file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DtsError(f"cannot read the secret file {self.file}: {exc}") from exc
        if not isinstance(data, dict):
            raise DtsError(f"the secret file {self.file} must map secret names to values, e.g. `src.password: s3cret`")
        return data

    def export(self, names: Mapping[str, str], environ: MutableMapping[str, str]) -> None:
        """Put the secret file's value of each NAME into `environ` as its variable (names: NAME -> variable),
        unless the variable is set already: what the node's agents read from their environment (the NATS
        password) may then come from the file too."""
        file = self._from_file()
        for name, variable in names.items():
            if variable not in environ and file.get(name) is not None:
                environ[variable] = str(file[name])

    def resolve(self, task_id: str, attributes: Any) -> Any:
        """`attributes` with every reference replaced by this node's value; a DtsError naming each missing
        or different secret."""
        problems: list[str] = []
        resolved = self._walk(attributes, task_id, self._from_file(), problems)
        if problems:
            raise DtsError("; ".join(problems))
        return resolved

    def _walk(self, value: Any, task_id: str, file: dict[str, Any], problems: list[str]) -> Any:
        if isinstance(value, dict) and set(value) == {"secret", "check"}:
            name = value["secret"]
            secret = self.environ.get(env_name(name), file.get(name))
            where = f"set {env_name(name)} or add `{name}` to the node's secret file"
            if secret is None:
                problems.append(f"this node has no secret {name}: {where}")
            elif hash_secret(secret, task_id) != value["check"]:
                problems.append(f"this node's secret {name} is not the one the declaration was applied with: {where}")
            return secret
        if isinstance(value, dict):
            return {key: self._walk(item, task_id, file, problems) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item, task_id, file, problems) for item in value]
        return value
