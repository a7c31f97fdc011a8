"""Plans: what apply would do, from the declaration, the state and the running agents."""

from dtsctl.plan.jsonplan import plan_to_json
from dtsctl.plan.model import Observation, Plan, ResourceChange
from dtsctl.plan.planner import make_plan
from dtsctl.plan.render import render_plan
from dtsctl.plan.saved import SavedPlan, check_saved_plan, fingerprint, load_plan, save_plan

__all__ = [
    "Observation",
    "Plan",
    "ResourceChange",
    "SavedPlan",
    "check_saved_plan",
    "fingerprint",
    "load_plan",
    "make_plan",
    "plan_to_json",
    "render_plan",
    "save_plan",
]
