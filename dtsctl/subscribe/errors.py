"""Errors a consumer can meet; each is a DtsError whose message says what to do."""

from __future__ import annotations

from dtsctl.engine.subscription.store import PositionTrimmed, StoreMissing
from dtsctl.errors import DtsError

__all__ = ["GroupNotDeclared", "LeaseLost", "PositionTrimmed", "ReadOnly", "StoreMissing"]


class GroupNotDeclared(DtsError):
    """The group is not (or no longer) in the task's `consumer_groups`."""


class LeaseLost(DtsError):
    """Another consumer of the group took over; this one's commit was refused."""


class ReadOnly(DtsError):
    """A subscriber opened without a lease (`exclusive=False`) cannot commit."""
