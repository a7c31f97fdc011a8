"""Where the workspace's tasks run: this machine's supervisor (local, the default) or the nodes of
an etcd cluster (dtsctl.cluster). The one place that decides, from the runtime settings `apply`
recorded in `.dtsctl/workspace.json`; apply, destroy, refresh and status ask it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from dtsctl.errors import DtsError
from dtsctl.jsonfile import read_json
from dtsctl.runtime.agent_control import Agent, TaskView, list_agents
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.process import stop_process
from dtsctl.runtime.supervisor import SUPERVISOR_MODULE, ensure_supervisor, supervisor_pid


class TaskHandle(Protocol):
    """What the orchestrator does with one task, wherever it runs (Agent, ClusterTask)."""

    address: str

    @property
    def exists(self) -> bool: ...

    @property
    def desired(self) -> str: ...

    def config(self) -> dict[str, Any]: ...

    def write_config(self, task_id: str, attributes: dict[str, Any], sensitive_paths: Any) -> None: ...

    def set_desired(self, desired: Any) -> Any: ...

    def starting(self) -> AbstractContextManager[None]: ...

    def start(self) -> Any: ...

    def stop(self, desired: Any) -> None: ...

    def remove(self) -> None: ...

    def leave_shared_log(self, task_id: str, attributes: dict[str, Any]) -> None: ...

    def view(self) -> TaskView: ...


class LocalTasks:
    """Agents on this machine, under the workspace's supervisor."""

    kind = "local"

    def __init__(self, runtime: RuntimePaths) -> None:
        self.runtime = runtime

    def task(self, address: str) -> Agent:
        return Agent(self.runtime, address)

    def check(self, resource: Any) -> None:
        """Every task runs on the local runtime."""

    def supervised(self) -> bool:
        return supervisor_pid(self.runtime) is not None

    def started(self) -> None:
        ensure_supervisor(self.runtime)

    def settle(self) -> None:
        """Stop the supervisor when the workspace has no task left (destroy of the last one)."""
        if list_agents(self.runtime):
            return
        pid = supervisor_pid(self.runtime)
        if pid:
            stop_process(pid, SUPERVISOR_MODULE, grace_seconds=10)


def recorded_runtime(runtime: RuntimePaths) -> dict[str, Any] | None:
    return (read_json(runtime.settings, {}) or {}).get("runtime")


def tasks_for(runtime: RuntimePaths) -> Any:
    """The workspace's tasks as the recorded runtime settings place them: LocalTasks or ClusterTasks."""
    recorded = recorded_runtime(runtime)
    if not recorded or recorded.get("backend", "local") == "local":
        return LocalTasks(runtime)
    from dtsctl.cluster.backend import ClusterTasks  # etcd3gw and requests: only for a cluster workspace
    from dtsctl.config.model import Runtime

    return ClusterTasks(Runtime.model_validate(recorded))


def check_runtime_switch(has_tasks: bool, recorded: dict[str, Any] | None, declared: Any) -> None:
    """Tasks stay where they run: moving them between runtimes is destroy, then apply."""
    before = (recorded or {}).get("backend", "local")
    after = declared.backend if declared is not None else "local"
    if has_tasks and before != after:
        raise DtsError(f"the workspace's tasks run on the {before} runtime; destroy them before switching "
                       f"`workspace.runtime` to {after} (nothing was changed)")
