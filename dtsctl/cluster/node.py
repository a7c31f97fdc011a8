"""`dtsctl node run`: the supervisor of one host in the cluster runtime.

Each pass (every second, and at once when an etcd watch sees a task's spec, desired state or
owner, or a node, change: dtsctl.cluster.watch) it reads the workspace's tasks and nodes from
etcd and:
- claims an unowned task when placement picks this node (most free slots, then name; any
  node with a free slot after one TTL), with a transaction that creates the task's owner key
  only if it is absent, bound to this node's lease; the key's revision is the fencing token;
- runs the tasks it owns as local agents (config with secrets resolved here and the fencing
  token), following their desired state, and lets the local supervisor restart crashed ones;
- stops at once an agent whose task it no longer owns;
- tears down a task that `destroy` marked deleted, with its own credentials;
- publishes each owned task's status and its own slots.
The lease is renewed in the background (dtsctl.cluster.lease); when it cannot be, every agent
is stopped before the lease can expire, and the node then joins again with a new lease.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dtsctl.cluster.keys import TaskEntries, node_key, read_nodes, read_tasks, task_key, task_prefix
from dtsctl.cluster.lease import LeaseKeeper
from dtsctl.cluster.secrets import SecretSource
from dtsctl.cluster.store import Entry, EtcdStore
from dtsctl.cluster.watch import ChangeWatch
from dtsctl.errors import DtsError
from dtsctl.jsonfile import write_json_atomic
from dtsctl.runtime.agent_control import Agent, list_agents
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.process import stop_process
from dtsctl.runtime.supervisor import Supervisor

PASS_SECONDS = 1.0
KILL_GRACE_SECONDS = 1.0  # an agent whose ownership is in doubt gets this long to stop
log = logging.getLogger("dtsctl.node")


class Node:
    def __init__(self, store: EtcdStore, name: str, slots: int, data_dir: Path, secrets: SecretSource,
                 ttl: int) -> None:
        self.store, self.name, self.slots, self.secrets = store, name, slots, secrets
        self.host = socket.gethostname()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = RuntimePaths(data_dir)
        self.supervisor = Supervisor(self.runtime)
        self.keeper = LeaseKeeper(store, ttl, self._kill_all)
        self.ttl = ttl
        self.owned: dict[str, int] = {}  # address -> fencing token
        self.configured: dict[str, tuple[int, int]] = {}  # address -> (spec revision, token) its config holds
        self.acted: dict[str, float] = {}  # address -> changed_at of the desired state carried out
        self.unowned_since: dict[str, float] = {}
        self.published: dict[str, Any] = {}
        self.stopping = threading.Event()
        self.watch = ChangeWatch(store)

    # -- life -------------------------------------------------------------------------
    def run(self) -> None:
        self._kill_all()  # a former run's agents own nothing any more: its lease is gone
        self._join()
        self.keeper.start()
        self.watch.start()
        try:
            while not self.stopping.is_set():
                self.watch.changed.clear()
                try:
                    self.step()
                except DtsError as exc:
                    log.warning("%s", exc)
                except Exception:  # one bad pass must not end the node
                    log.exception("pass failed")
                self.watch.changed.wait(PASS_SECONDS)  # a change of the tasks or nodes cuts the wait short
        finally:
            self.watch.stop()
            self._leave()

    def request_stop(self) -> None:
        """Called from a signal handler: the events are set from a thread, so a second signal arriving
        inside the first one's Event.set cannot deadlock the main thread on the event's lock."""
        def stop() -> None:
            self.stopping.set()
            self.watch.changed.set()
        threading.Thread(target=stop, name="node-stop", daemon=True).start()

    def _join(self) -> None:
        """Take a lease and register this node's name, waiting out a former run's key."""
        deadline = time.monotonic() + self.ttl + 2
        while True:
            lease = self.keeper.grant()
            if self.store.create(node_key(self.store, self.name), self._advert(), lease) is not None:
                log.info("node %s joined with lease %x (%d slots)", self.name, lease, self.slots)
                return
            self.store.revoke(lease)
            if time.monotonic() > deadline:
                raise DtsError(f"a node named {self.name} is already running; give this one another --name")
            time.sleep(1)

    def _leave(self) -> None:
        """Stop every agent gracefully and hand its tasks back at once (no TTL to wait out)."""
        self.keeper.stop()
        for agent in list_agents(self.runtime):
            agent.stop("stopped")
        try:
            for address, token in self.owned.items():
                self.store.delete_if(task_key(self.store, address, "owner"), token)
            self.store.revoke(self.keeper.lease)
        except DtsError as exc:
            log.warning("could not hand the tasks back (%s); other nodes take them over when the lease expires", exc)
        log.info("node %s left", self.name)

    def _kill_all(self) -> None:
        """The lease may expire: no agent of this node may run past it (called from the watchdog)."""
        for agent in list_agents(self.runtime):
            self._stop_now(agent)

    @staticmethod
    def _stop_now(agent: Agent) -> None:
        """Stop an agent whose ownership is in doubt, without the graceful wait; the supervisor leaves it."""
        if agent.exists:
            agent.set_desired("stopped")
        pid = agent.pid
        if pid:
            stop_process(pid, str(agent.paths.root), KILL_GRACE_SECONDS)

    # -- one pass ---------------------------------------------------------------------
    def step(self) -> None:
        if self.keeper.lost.is_set():
            self._rejoin()
        tasks, nodes = read_tasks(self.store), read_nodes(self.store)
        for address in [address for address in self.owned if address not in tasks]:
            self._drop(address, "its keys are gone")
        for entries in tasks.values():
            self._reconcile(entries, tasks, nodes)
        if not self.keeper.lost.is_set():
            self.supervisor.tick()
            self._publish(tasks)

    def _rejoin(self) -> None:
        for address in list(self.owned):
            self._drop(address, "this node's lease lapsed")
        self.store.revoke(self.keeper.lease)  # its owner keys go now, not at the end of the TTL
        self._join()

    def _reconcile(self, entries: TaskEntries, tasks: dict[str, TaskEntries], nodes: dict[str, Entry]) -> None:
        address, owner = entries.address, entries.owner
        mine = owner is not None and owner.lease == self.keeper.lease and (owner.value or {}).get("node") == self.name
        if address in self.owned and not (mine and owner is not None and owner.create_revision == self.owned[address]):
            self._drop(address, "another node owns it now")
        if owner is None and "spec" in entries.parts and entries.desired in ("running", "deleted"):
            mine = self._claim(entries, tasks, nodes)
        if not mine:
            return
        if entries.desired == "deleted":
            self._teardown(entries)
        else:
            self._follow(entries)

    def _claim(self, entries: TaskEntries, tasks: dict[str, TaskEntries], nodes: dict[str, Entry]) -> bool:
        if not self._placed_here(entries, tasks, nodes):
            return False
        value = {"node": self.name, "host": self.host}
        token = self.store.create(task_key(self.store, entries.address, "owner"), value, self.keeper.lease)
        if token is None:
            return False  # another node was faster
        log.info("%s: owned by this node from now on (fencing token %d)", entries.address, token)
        self.owned[entries.address] = token
        self.unowned_since.pop(entries.address, None)
        # Whatever a former ownership left here (a change log, a status) is stale: the new run starts
        # from the destination checkpoint.
        self._stop_now(Agent(self.runtime, entries.address))
        shutil.rmtree(self.runtime.task(entries.address).root, ignore_errors=True)
        entries.parts["owner"] = Entry(task_key(self.store, entries.address, "owner"), value, token, token,
                                       self.keeper.lease)
        return True

    def _placed_here(self, entries: TaskEntries, tasks: dict[str, TaskEntries], nodes: dict[str, Entry]) -> bool:
        """Placement: the node with the most free slots (then the first name) takes a task; after one
        TTL without an owner any node with a free slot does. A task to tear down needs no slot."""
        load = Counter((t.value("owner") or {}).get("node") for t in tasks.values() if t.owner)
        free = {name: int((node.value or {}).get("slots", 0)) - load[name] for name, node in nodes.items()}
        deleting = entries.desired == "deleted"
        if not deleting and free.get(self.name, self.slots - len(self.owned)) <= 0:
            return False
        best = min(free, key=lambda name: (-free[name], name)) if free else self.name
        if best == self.name:
            return True
        first_seen = self.unowned_since.setdefault(entries.address, time.monotonic())
        return time.monotonic() - first_seen > self.ttl

    def _follow(self, entries: TaskEntries) -> None:
        """Run the owned task as its desired state and configuration say."""
        address = entries.address
        agent = Agent(self.runtime, address)
        spec = entries.value("spec")
        version = (entries.parts["spec"].mod_revision, self.owned[address])
        if self.configured.get(address) != version:
            agent.stop("stopped")
            self.configured[address] = version
            self.acted.pop(address, None)
            try:
                attributes = self.secrets.resolve(spec["task_id"], spec["attributes"])
            except DtsError as exc:
                agent.paths.root.mkdir(parents=True, exist_ok=True)
                write_json_atomic(agent.paths.status, {"state": "failed", "last_error": exc.message})
                return
            agent.write_config(spec["task_id"], {**attributes, "fencing_token": self.owned[address]},
                               spec.get("sensitive_paths", ()))
        desired = entries.value("desired") or {}
        if self.acted.get(address) == desired.get("changed_at") or not agent.exists:
            return
        wanted = desired.get("desired", "stopped")
        if wanted == "running" and agent.config()["attributes"].get("schedule"):
            agent.set_desired("running")  # the supervisor starts each run at its time
        elif wanted == "running":
            if not agent.pid:
                agent.start()
        else:
            agent.stop(wanted)
        self.acted[address] = desired.get("changed_at", 0.0)

    def _teardown(self, entries: TaskEntries) -> None:
        from dtsctl.runtime import lifecycle  # connectors: only when a task is torn down

        address = entries.address
        agent = Agent(self.runtime, address)
        agent.stop("stopped")
        spec = entries.value("spec") or {}
        try:
            lifecycle.teardown(self.secrets.resolve(spec["task_id"], spec["attributes"]), spec["task_id"])
        except DtsError as exc:
            self._put_status(address, {"state": "failed", "last_error": f"teardown failed: {exc.message}"})
            return
        agent.remove()
        self.store.delete_prefix(task_prefix(self.store, address))
        self._forget(address)
        log.info("%s: torn down", address)

    def _drop(self, address: str, why: str) -> None:
        """Stop the agent of a task this node no longer owns, at once."""
        log.warning("%s: stopping its agent: %s", address, why)
        self._stop_now(Agent(self.runtime, address))
        self._forget(address)

    def _forget(self, address: str) -> None:
        for known in (self.owned, self.configured, self.acted, self.published):
            known.pop(address, None)

    # -- reports ----------------------------------------------------------------------
    def _advert(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "slots": self.slots, "tasks": sorted(self.owned)}

    def _publish(self, tasks: dict[str, TaskEntries]) -> None:
        for address in list(self.owned):
            view = Agent(self.runtime, address).view()
            status = {**view.status, **view.as_contract(), "desired_at": self.acted.get(address, 0.0)}
            status.pop("updated_at", None)
            if status != self.published.get(address):
                self._put_status(address, status)
        advert = self._advert()
        if advert != self.published.get(""):
            self.store.put(node_key(self.store, self.name), advert, self.keeper.lease)
            self.published[""] = advert

    def _put_status(self, address: str, status: dict[str, Any]) -> None:
        self.store.put(task_key(self.store, address, "status"), {**status, "node": self.name, "host": self.host})
        self.published[address] = status
