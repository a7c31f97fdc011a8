"""The machine-readable plan of `dtsctl plan --json` (contract, section 4).

Secrets read "(sensitive value)" in `before` and `after`, exactly as in the
human plan; neither clear text nor hash ever appears. `reads_destination_of` (an
addition to the contract's fields) lists the tasks a task is ordered after
because it reads what they write.
"""

from __future__ import annotations

from typing import Any

from dtsctl.plan.model import Plan

FORMAT_VERSION = "1"


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "resource_changes": [
            {
                "address": change.address,
                "type": change.type,
                "name": change.name,
                "change": {"actions": list(change.actions), "before": change.before, "after": change.after},
                "action_reason": change.action_reason,
                "reads_destination_of": list(change.reads_from),
                **({"cutover": {"steps": list(change.steps), "creates": change.reverse}} if change.steps else {}),
            }
            for change in plan.changes
        ],
        "drift": [dict(entry) for entry in plan.drift],
        "summary": plan.summary,
    }
