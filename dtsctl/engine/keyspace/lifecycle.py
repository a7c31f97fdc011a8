"""precheck / prepare / teardown / verify for key-value tasks (dispatched from dtsctl.engine.lifecycle)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from dtsctl.engine.errors import ConnectionFailure
from dtsctl.engine.keyspace import registry
from dtsctl.engine.selection import TaskSpec
from dtsctl.errors import DtsError

if TYPE_CHECKING:
    from dtsctl.engine.lifecycle import CheckResult, TableComparison


def precheck(attributes: dict[str, Any], task_id: str) -> list["CheckResult"]:
    spec = TaskSpec.from_attributes(attributes, task_id)
    if attributes.get("type") == "subscription":  # no destination: the subscription's own checks
        return _subscription_precheck(spec)
    return registry.connector(spec.source_endpoint["engine"]).precheck(spec)


def _subscription_precheck(spec: TaskSpec) -> list["CheckResult"]:
    from dtsctl.engine.lifecycle import CheckResult

    support = registry.subscription_support(spec.source_endpoint["engine"])
    try:
        support.SubscriptionRedisSource(spec).check_connection()
    except DtsError as exc:
        return [CheckResult("connectivity", False, str(exc))]
    problems = support.precheck(spec)
    return [CheckResult("objects", False, problem) for problem in problems] or [
        CheckResult("connectivity", True, "source is reachable")]


def prepare(attributes: dict[str, Any], task_id: str) -> None:
    """Nothing to install: a replica connection needs no capture objects on the source."""


def teardown(attributes: dict[str, Any], task_id: str) -> None:
    spec = TaskSpec.from_attributes(attributes, task_id)
    with contextlib.suppress(ConnectionFailure):  # an endpoint that is gone holds nothing to remove
        registry.connector(spec.source_endpoint["engine"]).teardown(spec)


def verify(attributes: dict[str, Any]) -> list["TableComparison"]:
    spec = TaskSpec.from_attributes(attributes, "verify")
    if spec.destination_endpoint is None:
        raise DtsError("verify compares a source with a destination; a subscription task has none")
    return registry.connector(spec.source_endpoint["engine"]).verify(spec)
