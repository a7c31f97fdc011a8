"""The human plan, in Terraform's notation: + create, ~ update, -/+ replace, - destroy."""

from __future__ import annotations

import json
import time
from typing import Any

from dtsctl.config.dataflow import READS_DESTINATION
from dtsctl.plan import model as m
from dtsctl.plan.model import Plan, ResourceChange

NO_CHANGES = "No changes. Your replication matches the declaration."
ATTRIBUTE_PAD = 6  # attributes sit under the resource line as in Terraform

_HEADERS = {
    tuple(m.CREATE): ("+", "will be created"),
    tuple(m.UPDATE): ("~", "will be updated in place"),
    tuple(m.REPLACE): ("-/+", "must be replaced"),
    tuple(m.DELETE): ("-", "will be destroyed"),
    tuple(m.CUTOVER): ("~>", "will be cut over"),
}


def render_plan(plan: Plan) -> str:
    lines: list[str] = []
    drift = {entry["address"]: entry["reason"] for entry in plan.drift}
    if drift:
        lines += ["Note: objects have changed outside of dtsctl", ""]
        lines += [f"  # {address}: {reason}" for address, reason in drift.items()]
        lines.append("")
    if not plan.has_changes:
        lines += _next_runs(plan)
        lines.append(NO_CHANGES)
        return "\n".join(lines) + "\n"
    lines += ["dtsctl will perform the following actions:", ""]
    for change in plan.changes:
        if change.actions != m.NO_OP:
            lines += _render_change(change, drift.get(change.address))
            lines.append("")
    lines += _next_runs(plan)
    summary = plan.summary
    lines.append(f"Plan: {summary['add']} to add, {summary['change']} to change, {summary['destroy']} to destroy.")
    return "\n".join(lines) + "\n"


def _next_runs(plan: Plan, count: int = 3) -> list[str]:
    """When the scheduled migrations the plan keeps or creates will run next."""
    lines = []
    for change in plan.changes:
        schedule = (change.after or {}).get("schedule") if change.actions != m.DELETE else None
        if schedule:
            from dtsctl.schedule import CronSchedule

            cron = CronSchedule.from_attributes(schedule)
            times = cron.next_times(time.time(), count)
            lines.append(f"  # {change.address} runs next at {', '.join(cron.clock(t) for t in times)}")
    return ["Scheduled runs:", *lines, ""] if lines else []


def _render_change(change: ResourceChange, drift_reason: str | None) -> list[str]:
    symbol, verb = _HEADERS[tuple(change.actions)]
    lines = [f"  # {change.address} {verb}"]
    if change.actions == m.DELETE:
        lines += [f"  # ({reason})" for reason in change.reasons]
    if drift_reason:
        lines.append(f"  # ({drift_reason}; apply restarts the agent)")
    lines += [f"  # after {upstream} ({READS_DESTINATION})" for upstream in change.reads_from]
    lines.append(f"{symbol:>3} {change.address} {{")
    if change.actions == m.CUTOVER:
        lines += [" " * ATTRIBUTE_PAD + f"{number}. {step}" for number, step in enumerate(change.steps, 1)]
    elif change.actions == m.CREATE:
        lines += _render_tree("+", change.after or {}, ATTRIBUTE_PAD)
    elif change.actions == m.DELETE:
        lines += _render_tree("-", change.before or {}, ATTRIBUTE_PAD)
    else:
        lines += _render_changed_paths(change)
    lines.append(" " * (ATTRIBUTE_PAD - 2) + "}")
    return lines


def _render_changed_paths(change: ResourceChange) -> list[str]:
    lines = []
    for item in change.attribute_changes:
        symbol, path = item["symbol"], item["path"]
        if symbol == "+":
            line = f"+ {path} = {_value(item['after'])}"
        elif symbol == "-":
            line = f"- {path} = {_value(item['before'])}"
        else:
            line = f"~ {path} = {_value(item['before'])} -> {_value(item['after'])}"
        if item["forces_replacement"]:
            line += " # forces replacement"
        lines.append(" " * ATTRIBUTE_PAD + line)
    return lines


def _render_tree(symbol: str, tree: dict[str, Any], pad: int) -> list[str]:
    """One `symbol key = value` line per non-null attribute; objects and lists of objects open blocks."""
    lines = []
    indent = " " * pad
    for key in sorted(tree):
        value = tree[key]
        if value is None:
            continue
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{symbol} {key} = {{")
            lines += _render_tree(symbol, value, pad + 4)
            lines.append(f"{indent}  }}")
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            lines.append(f"{indent}{symbol} {key} = [")
            for item in value:
                lines.append(f"{indent}    {symbol} {{")
                lines += _render_tree(symbol, item, pad + 8)
                lines.append(f"{indent}      }},")
            lines.append(f"{indent}  ]")
        else:
            lines.append(f"{indent}{symbol} {key} = {_value(value)}")
    return lines


def _value(value: Any) -> str:
    if value == m.SENSITIVE_DISPLAY:
        return m.SENSITIVE_DISPLAY
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
