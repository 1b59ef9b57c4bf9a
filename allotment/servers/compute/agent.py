"""``ComputeAgent``: one compute host: its provider tree in placement, its registration and heartbeats, its guests.

    agent = ComputeAgent("cn1", HostInventory.simple(), placement=client, registry=registry,
                         transport=transport, driver=FakeDriver())
    agent.start()    # tree synced, host registered (heartbeat), subscribed to compute.cn1
    ...
    agent.stop()

``registry`` is anything with ``register_host(name, provider_uuid, facts)`` and
``heartbeat(name)``: the scheduler's ``Registry`` (same database) or its REST client.
The agent never writes server records: it reports outcomes to the conductor
(``allotment.servers.messages``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from allotment.client import PlacementClient
from allotment.client.provider_tree import update_from_provider_tree
from allotment.servers.compute.driver import BuildFailed, Driver, FakeDriver
from allotment.servers.compute.inventory import HostInventory, provider_uuid
from allotment.servers.messages import CONDUCTOR_TOPIC, cast, compute_topic
from allotment.servers.transport import Message, Subscription, Transport

__all__ = ["ComputeAgent", "HostRegistry"]

LOG = logging.getLogger(__name__)


class HostRegistry(Protocol):
    def register_host(self, name: str, provider_uuid: str, facts: Mapping[str, Any] | None = None) -> Any: ...

    def heartbeat(self, name: str) -> Any: ...


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

    # ---- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.report_tree()
        self.registry.register_host(self.name, self.provider_uuid, {"cell": self.cell} if self.cell else {})
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
        update_from_provider_tree(self.placement, self.inventory.provider_tree(self.name))

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
                self.registry.register_host(self.name, self.provider_uuid, {"failed_builds": count})
            except Exception:  # only a weigher's input: the next build reports it again
                LOG.warning("could not record %d failed builds of %s", count, self.name, exc_info=True)
