"""The workspace's tasks on an etcd cluster, as the orchestrator and `status` use them."""

from __future__ import annotations

from dtsctl.cluster.keys import read_nodes
from dtsctl.cluster.store import EtcdStore
from dtsctl.cluster.tasks import ClusterTask, unsupported_reason
from dtsctl.config.model import Runtime
from dtsctl.config.resources import DesiredResource
from dtsctl.engine.subscription.stores import record_store_attribute
from dtsctl.errors import DtsError


class ClusterTasks:
    kind = "etcd"

    def __init__(self, settings: Runtime) -> None:
        self.settings = settings
        self.store = EtcdStore(settings)

    def task(self, address: str) -> ClusterTask:
        return ClusterTask(self.store, address, record_store_attribute(self.settings.model_dump(), address))

    def check(self, resource: DesiredResource) -> None:
        """Refuse, before anything is prepared, a task the cluster runtime cannot run."""
        reason = unsupported_reason(resource.attributes)
        if reason:
            raise DtsError(f"{resource.address}: cannot run on the etcd runtime: {reason}")

    def supervised(self) -> bool:
        """Some node is alive to run (or restart) the tasks."""
        return bool(read_nodes(self.store))

    def started(self) -> None:
        """Nothing to start here: the nodes pick the task up."""

    def settle(self) -> None:
        """Nodes run on their own hosts; nothing to stop here."""
