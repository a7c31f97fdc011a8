"""Finding a subscription task's store from a workspace, a task directory or the file itself."""

from __future__ import annotations

from pathlib import Path

from dtsctl.engine.subscription.spec import store_path
from dtsctl.engine.subscription.store import STORE_FILE
from dtsctl.engine.subscription.stores import Location, record_store_attribute
from dtsctl.orchestrate.backend import recorded_runtime
from dtsctl.runtime.layout import RuntimePaths, runtime_dir
from dtsctl.subscribe.errors import StoreMissing

ADDRESS_ROOTS = ("task.", "module.", "topology.")


def task_address(task: str) -> str:
    """`orders_cdc` -> `task.orders_cdc`; full addresses are kept."""
    return task if task.startswith(ADDRESS_ROOTS) else f"task.{task}"


def locate_store(workspace_or_path: str | Path, task: str | None) -> Location:
    """The store: `workspace_or_path` is the store file, a task's runtime directory, or a workspace
    (its runtime directory honours DTSCTL_RUNTIME_DIR) in which `task` is looked up; a workspace on
    the cluster runtime names the NATS servers that hold it (`workspace.runtime.subscriptions`)."""
    path = Path(workspace_or_path).expanduser().resolve()
    if path.is_file():
        return path
    if (path / STORE_FILE).is_file():
        return path / STORE_FILE
    if task is None:
        raise StoreMissing(f"{path} holds no change stream; pass a workspace and a task address")
    address = task_address(task)
    runtime = RuntimePaths(runtime_dir(path))
    replicated = record_store_attribute(recorded_runtime(runtime) or {}, address)
    if replicated is not None:
        return replicated
    found = store_path(runtime.task(address).root)
    if not found.is_file():
        raise StoreMissing(
            f"{address} has no change stream in {path}: declare it as a subscription task and run `dtsctl apply`"
        )
    return found
