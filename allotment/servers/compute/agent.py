"""``ComputeAgent``: one compute host: its provider tree in placement, its registration and heartbeats, its guests.

    agent = ComputeAgent("cn1", HostInventory.simple(), placement=client, registry=registry,
                         transport=transport, driver=FakeDriver())
    agent.start()    # tree synced, host registered (heartbeat), subscribed to compute.cn1
    ...
    agent.stop()

``registry`` is anything with ``register_host`` and ``put_host(name, provider_uuid, facts)``,
``heartbeat(name)`` and, for a host with a topology, ``get_topology``/``set_topology``: the
scheduler's ``Registry`` (same database).

A host whose inventory has a ``topology`` reports it on start and on every
``update_inventory`` through the code ``allotment host topology set`` runs
(``sync_topology`` into placement, then ``Registry.set_topology``); a change that would drop
CPUs or devices instances hold is refused before placement is touched.
The agent never writes server records: it reports outcomes to the conductor
(``allotment.servers.messages``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from allotment.client import PlacementClient
from allotment.client.provider_tree import ProviderTree, update_from_provider_tree
from allotment.scheduler.errors import Conflict, NotFound
from allotment.scheduler.topology.host import HostTopology
from allotment.scheduler.topology.placement import pci_provider_uuid, sync_topology
from allotment.scheduler.topology.usage import Fit
from allotment.servers.compute.driver import BuildFailed, Driver, FakeDriver
from allotment.servers.compute.inventory import HostInventory, InventoryError, provider_uuid
from allotment.servers.messages import CONDUCTOR_TOPIC, cast, compute_topic
from allotment.servers.transport import Message, Subscription, Transport

__all__ = ["ComputeAgent", "HostRegistry"]

LOG = logging.getLogger(__name__)


class HostRegistry(Protocol):
    def register_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> Any: ...

    def put_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> Any: ...

    def heartbeat(self, name: str) -> Any: ...

    def get_topology(self, name: str) -> tuple[HostTopology, dict[str, dict[str, Any]]]: ...

    def set_topology(self, name: str, topology: HostTopology) -> None: ...


class ComputeAgent:
    def __init__(self, name: str, inventory: HostInventory, *, placement: PlacementClient, registry: HostRegistry,
                 transport: Transport, driver: Driver | None = None, cell: str | None = None,
                 heartbeat_interval: float = 10.0, workers: int = 4) -> None:
        self.name = name
        self.inventory = inventory
        self.placement = placement
        self.registry = registry
        self.transport = transport
        self.driver: Driver = driver if driver is not None else FakeDriver()
        self.cell = cell
        self.heartbeat_interval = heartbeat_interval
        self.workers = workers
        self.provider_uuid = provider_uuid(name)
        self.failed_builds = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._subscription: Subscription | None = None
        self._report_lock = threading.Lock()

    # ---- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.report_tree()
        self.registry.register_host(self.name, self.provider_uuid, {"cell": self.cell} if self.cell else {})
        self.report_topology()
        self._subscription = self.transport.subscribe(compute_topic(self.name), self.handle, workers=self.workers)
        if self.heartbeat_interval > 0:
            self._beat = threading.Thread(target=self._heartbeats, name=f"heartbeat-{self.name}", daemon=True)
            self._beat.start()
        cast(self.transport, CONDUCTOR_TOPIC, "compute_started", host=self.name)
        LOG.info("compute %s started (provider %s, cell %s)", self.name, self.provider_uuid, self.cell)

    def stop(self) -> None:
        self._stop.set()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(timeout=5)

    def report_tree(self) -> None:
        """Make placement hold this host's tree (only what differs is written)."""
        tree = self.inventory.provider_tree(self.name)
        if self.inventory.topology is not None:
            self._keep_topology_parts(tree, self.inventory.topology)
        update_from_provider_tree(self.placement, tree)

    def _keep_topology_parts(self, tree: ProviderTree, topology: HostTopology) -> None:
        """Leave what the topology sync owns as placement has it: its root traits and PCI device providers."""
        root = self.provider_uuid
        if topology.has_smt:
            tree.get(root).traits.add("HW_CPU_HYPERTHREADING")
        if all(c.socket is not None for c in topology.cells):
            tree.get(root).traits.add("COMPUTE_SOCKET_PCI_NUMA_AFFINITY")
        prefix = f"{self.name}_"
        for p in self.placement.list_providers(in_tree=root):
            if p.parent_provider_uuid != root or p.uuid in tree or not p.name.startswith(prefix):
                continue
            if p.uuid != pci_provider_uuid(root, p.name.removeprefix(prefix)):
                continue  # a child the inventory file dropped: it goes
            tree.new_child(p.name, root, p.uuid)
            _, inventory = self.placement.get_inventories(p.uuid)
            tree.update_inventory(p.uuid, inventory)
            _, traits = self.placement.get_provider_traits(p.uuid)
            tree.update_traits(p.uuid, set(traits))

    def report_topology(self) -> None:
        """Report the inventory's topology to placement and the registry (nothing without one)."""
        topology = self.inventory.topology
        if topology is None:
            return
        self._check_held(topology)
        synced, _ = sync_topology(self.placement, self.name, self.provider_uuid, topology)
        self.registry.set_topology(self.name, synced)
        LOG.info("compute %s reported its topology: %d NUMA cell(s), %d PCI device(s)", self.name,
                 len(topology.cells), len(topology.pci_devices))

    def _check_held(self, topology: HostTopology) -> None:
        """Refuse a topology dropping CPUs or devices instances hold, before placement is changed."""
        try:
            _, claims = self.registry.get_topology(self.name)
        except NotFound:
            return
        fits = [Fit.from_dict(doc) for doc in claims.values()]
        cpus = set[int]().union(*(f.taken_cpus for f in fits))
        devices = {d for f in fits for d in f.devices}
        lost_cpus = cpus - set[int]().union(*(c.cpus | c.pcpus for c in topology.cells))
        lost_devices = devices - {d.address for d in topology.pci_devices}
        if lost_cpus or lost_devices:
            raise Conflict(f"host {self.name!r}: the new topology drops CPU(s) {sorted(lost_cpus)} or device(s) "
                           f"{sorted(lost_devices)} that instances hold", "scheduler.topology.in_use")

    def update_inventory(self, inventory: HostInventory) -> None:
        """The host changed (a new inventory file): report the tree and the topology again."""
        if self.inventory.topology is not None and inventory.topology is None:
            raise InventoryError("topology: a host that reported a topology cannot drop it (register it anew)")
        with self._report_lock:
            if inventory.topology is not None:
                self._check_held(inventory.topology)
            previous, self.inventory = self.inventory, inventory
            try:
                self.report_tree()
                self.report_topology()
            except Exception:
                self.inventory = previous
                raise

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            try:
                self.registry.heartbeat(self.name)
            except Exception:  # the registry is down for a moment: the next beat tries again
                LOG.warning("heartbeat of %s failed", self.name, exc_info=True)

    # ---- messages -----------------------------------------------------------------------------

    def handle(self, message: Message) -> None:
        p = message.payload
        if message.method == "build_and_run_instance":
            self._spawn(p, "build", instance=p["instance"])
        elif message.method == "prep_resize":
            self._spawn(p, "resize", instance=p["instance"], migration=p["migration"])
        elif message.method == "rebuild_instance":
            self._spawn(p, "rebuild", instance=p["instance"], migration=p["migration"])
        elif message.method == "destroy":
            self.driver.destroy(p["instance"])
        else:
            LOG.warning("compute %s: unknown method %s dropped", self.name, message.method)

    def _spawn(self, p: Mapping[str, Any], what: str, **ids: Any) -> None:
        try:
            self.driver.spawn(p["instance"], p["flavor"], p.get("image") or {})
        except Exception as exc:  # a driver bug is a failed build too, never a silent loss
            if not isinstance(exc, BuildFailed):
                LOG.exception("driver failed on %s", p["instance"])
            reason = str(exc) if isinstance(exc, BuildFailed) else f"{type(exc).__name__}: {exc}"
            self._count_build(failed=True)
            cast(self.transport, CONDUCTOR_TOPIC, f"{what}_failed", host=self.name, reason=reason, **ids)
            return
        self._count_build(failed=False)
        cast(self.transport, CONDUCTOR_TOPIC, f"{what}_done", host=self.name, **ids)

    def _count_build(self, *, failed: bool) -> None:
        """Consecutive failed builds, in the registry for the BuildFailureWeigher (as Nova's compute keeps them)."""
        with self._lock:
            before = self.failed_builds
            self.failed_builds = before + 1 if failed else 0
            changed = self.failed_builds != before
            count = self.failed_builds
        if changed:
            try:
                self.registry.put_host(self.name, self.provider_uuid, {"failed_builds": count})  # no read-back
            except Exception:  # only a weigher's input: the next build reports it again
                LOG.warning("could not record %d failed builds of %s", count, self.name, exc_info=True)
