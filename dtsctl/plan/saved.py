"""Saved plans (`plan --out FILE`, `apply FILE`) and the guard against applying a stale one.

A saved plan holds no secret: changes are display-safe and each declared
resource is pinned by a fingerprint, a PBKDF2 digest under a random per-plan
salt, so apply can tell that the declaration (passwords included) is still the
one that was planned without the plan revealing a weak password.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dtsctl.config.cutover import REVERSE_OF
from dtsctl.config.resources import DesiredResource
from dtsctl.errors import DtsError
from dtsctl.jsonfile import write_json_atomic
from dtsctl.plan import model as m
from dtsctl.plan.model import Plan, ResourceChange
from dtsctl.state.model import State
from dtsctl.state.sensitive import hash_secret

PLAN_FORMAT = "dtsctl-plan"
PLAN_FORMAT_VERSION = 1


@dataclass
class SavedPlan:
    plan: Plan
    fingerprints: dict[str, str]  # address -> fingerprint(desired resource, fingerprint_salt)
    fingerprint_salt: str
    variables: dict[str, Any]  # the non-sensitive variable values the plan was made with


def fingerprint(resource: DesiredResource, salt: str) -> str:
    """A digest of everything apply would act on for `resource`, secrets included."""
    return hash_secret(
        {
            "address": resource.address,
            "type": resource.type,
            "attributes": resource.attributes,
            "sensitive_paths": sorted([str(s) for s in p] for p in resource.sensitive_paths),
            "depends_on": list(resource.depends_on),
        },
        salt,
    )


def save_plan(path: Path, plan: Plan, *, desired: Sequence[DesiredResource], variables: dict[str, Any]) -> None:
    """Write `plan` to `path` (mode 0600) with fingerprints of the declared resources it acts on.

    `variables` must hold only non-sensitive values; the caller filters them.
    """
    salt = secrets.token_hex(16)
    planned = {c.address for c in plan.changes if c.actions != m.DELETE}
    document = {
        "format": PLAN_FORMAT,
        "format_version": PLAN_FORMAT_VERSION,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "destroy": plan.destroy,
        "targets": list(plan.targets),
        "changes": [asdict(change) for change in plan.changes],
        "drift": plan.drift,
        "fingerprint_salt": salt,
        "fingerprints": {r.address: fingerprint(r, salt) for r in desired if r.address in planned},
        "variables": variables,
    }
    write_json_atomic(Path(path), document, mode=0o600)


def load_plan(path: Path) -> SavedPlan:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DtsError(f"saved plan {path} does not exist; make one with `dtsctl plan --out {path}`") from err
    except (OSError, ValueError) as err:
        raise DtsError(f"cannot read saved plan {path} ({err}); make a new one with `dtsctl plan --out FILE`") from err
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise DtsError(f"{path} is not a dtsctl saved plan; make one with `dtsctl plan --out FILE`")
    if document.get("format_version") != PLAN_FORMAT_VERSION:
        raise DtsError(
            f"saved plan {path} has format version {document.get('format_version')}, this dtsctl reads "
            f"{PLAN_FORMAT_VERSION}; make a new one with `dtsctl plan --out FILE`"
        )
    try:
        plan = Plan(
            changes=[ResourceChange(**change) for change in document["changes"]],
            drift=list(document["drift"]),
            destroy=bool(document["destroy"]),
            targets=list(document["targets"]),
            lineage=str(document["lineage"]),
            serial=int(document["serial"]),
        )
        return SavedPlan(
            plan=plan,
            fingerprints=dict(document["fingerprints"]),
            fingerprint_salt=str(document["fingerprint_salt"]),
            variables=dict(document["variables"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DtsError(f"saved plan {path} is damaged ({err}); make a new one with `dtsctl plan --out FILE`") from err


def check_saved_plan(saved: SavedPlan, state: State, desired: list[DesiredResource]) -> None:
    """Refuse a plan made against another state, or for a declaration that has changed since."""
    plan = saved.plan
    if plan.lineage != state.lineage:
        raise DtsError(
            f"saved plan is stale: it was made for another state (lineage {plan.lineage}, now {state.lineage}); "
            f"run `dtsctl plan` again"
        )
    if plan.serial != state.serial:
        raise DtsError(
            f"saved plan is stale: the state changed since it was made (serial {plan.serial}, now {state.serial}); "
            f"run `dtsctl plan` again"
        )
    wanted = {r.address: r for r in desired}
    for change in plan.changes:
        if change.actions == m.DELETE:
            continue
        resource = wanted.get(change.address)
        if resource is None:
            _mismatch(f"{change.address} is no longer declared")
        elif fingerprint(resource, saved.fingerprint_salt) != saved.fingerprints.get(change.address):
            _mismatch(f"{change.address} changed")
    if not plan.targets and not plan.destroy:
        planned = {c.address for c in plan.changes} | {c.reverse for c in plan.changes if c.reverse}
        waiting = {address for address, r in wanted.items() if r.attributes.get(REVERSE_OF)}  # for a cutover
        for address in sorted(set(wanted) - planned - waiting):
            _mismatch(f"{address} is new")


def _mismatch(what: str) -> None:
    raise DtsError(f"saved plan does not match the declaration any more: {what}; run `dtsctl plan` again")
