"""What the state file records: resources by address, with secrets hashed."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dtsctl.errors import DtsError
from dtsctl.state.sensitive import SENSITIVE_DISPLAY, effective_sensitive_paths, record_attributes, replace_at_paths

if TYPE_CHECKING:
    from dtsctl.config.resources import DesiredResource

STATE_VERSION = 1


@dataclass
class RecordedResource:
    """A resource as last applied. `attributes` hold {"sensitive": hash} where a secret was."""

    address: str
    type: str
    name: str
    task_id: str
    attributes: dict[str, Any]
    sensitive_paths: list[list[str | int]]
    depends_on: list[str]
    salt: str

    def display_attributes(self) -> dict[str, Any]:
        """The attributes with every hashed secret shown as "(sensitive value)", for output."""
        paths = [tuple(p) for p in self.sensitive_paths]
        return replace_at_paths(self.attributes, paths, lambda _: SENSITIVE_DISPLAY)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "task_id": self.task_id,
            "attributes": self.attributes,
            "sensitive_paths": [list(p) for p in self.sensitive_paths],
            "depends_on": list(self.depends_on),
            "salt": self.salt,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RecordedResource":
        return cls(
            address=data["address"],
            type=data["type"],
            name=data["name"],
            task_id=data["task_id"],
            attributes=data["attributes"],
            sensitive_paths=[list(p) for p in data.get("sensitive_paths", [])],
            depends_on=list(data.get("depends_on", [])),
            salt=data["salt"],
        )


@dataclass(kw_only=True)
class State:
    """The whole state file. `outputs` hold plain values, or {"sensitive": true} for sensitive ones."""

    version: int = STATE_VERSION
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def get(self, address: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.address == address), None)

    def put(self, resource: RecordedResource) -> None:
        """Record `resource`, replacing the one at the same address (keeping its position)."""
        for index, existing in enumerate(self.resources):
            if existing.address == resource.address:
                self.resources[index] = resource
                return
        self.resources.append(resource)

    def remove(self, address: str) -> None:
        self.resources = [r for r in self.resources if r.address != address]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": [r.to_json() for r in sorted(self.resources, key=lambda r: r.address)],
            "outputs": self.outputs,
        }

    def display_json(self) -> dict[str, Any]:
        """The state for `dtsctl show`: secrets as "(sensitive value)", no hashes, no salts."""
        document = self.to_json()
        document["resources"] = [
            {
                "address": r.address,
                "type": r.type,
                "name": r.name,
                "task_id": r.task_id,
                "attributes": r.display_attributes(),
                "depends_on": list(r.depends_on),
            }
            for r in sorted(self.resources, key=lambda r: r.address)
        ]
        return document

    @classmethod
    def from_json(cls, data: Any, source: str) -> "State":
        """Parse a state document; `source` names the file in error messages."""
        if not isinstance(data, dict) or "lineage" not in data:
            raise DtsError(f"{source} is not a dtsctl state file (no lineage); check the --state path")
        version = data.get("version")
        if version != STATE_VERSION:
            raise DtsError(f"{source} has state version {version}, this dtsctl reads version {STATE_VERSION}; use a matching dtsctl")
        try:
            resources = [RecordedResource.from_json(r) for r in data.get("resources", [])]
        except (KeyError, TypeError) as err:
            raise DtsError(f"{source} has a malformed resource ({err}); restore it from {source}.backup") from err
        return cls(
            version=version,
            lineage=str(data["lineage"]),
            serial=int(data.get("serial", 0)),
            resources=resources,
            outputs=dict(data.get("outputs", {})),
        )


def new_recorded(desired: DesiredResource, task_id: str | None = None) -> RecordedResource:
    """The state record of `desired` as just applied: a fresh salt, secrets hashed."""
    salt = secrets.token_hex(16)
    return RecordedResource(
        address=desired.address,
        type=desired.type,
        name=desired.name,
        task_id=task_id or str(uuid.uuid4()),
        attributes=record_attributes(desired.attributes, desired.sensitive_paths, salt),
        sensitive_paths=[list(p) for p in effective_sensitive_paths(desired.attributes, desired.sensitive_paths)],
        depends_on=list(desired.depends_on),
        salt=salt,
    )
