"""One process: the compute API, the conductor (with its audit) and N fake computes on one transport.

    with Cloud.open("sqlite:///./allotment.sqlite", computes=3) as cloud:
        client = httpx.Client(transport=httpx.WSGITransport(app=cloud.app), base_url="http://compute")
        client.post("/servers", json={"server": {"name": "web", "flavor": {...}}})

Placement runs in-process on the same database (``allotment.client.direct``) unless a
placement client is given; the scheduler registry and the servers records share it too.
Computes are named ``compute1``.. ``computeN`` unless names are given; each gets
``inventory`` and its own ``FakeDriver`` (``spawn_time``, ``failure_rate``). This is what
``allotment servers serve --fake-computes N`` runs; the ``boot`` benchmark uses it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from allotment.client import PlacementClient, direct
from allotment.scheduler.config import SchedulerConfig, load_scheduler_config
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.servers.api import create_app
from allotment.servers.audit import AuditReport, Auditor
from allotment.servers.compute import ComputeAgent, Driver, FakeDriver, HostInventory
from allotment.servers.compute_api import ComputeAPI
from allotment.servers.conductor import Conductor
from allotment.servers.store import ServerStore
from allotment.servers.transport import Transport, open_transport

__all__ = ["Cloud"]


@dataclasses.dataclass
class Cloud:
    placement: PlacementClient
    registry: Registry
    store: ServerStore
    scheduler: Scheduler
    transport: Transport
    conductor: Conductor
    api: ComputeAPI
    app: Any
    auditor: Auditor
    computes: dict[str, ComputeAgent] = dataclasses.field(default_factory=dict)
    heartbeat_interval: float = 10.0
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    _beats: threading.Thread | None = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, db_url: str, *, computes: int | Sequence[str] = 0, inventory: HostInventory | None = None,
             placement: PlacementClient | None = None, transport_url: str = "inprocess://",
             config: SchedulerConfig | None = None, spawn_time: float = 0.0, failure_rate: float = 0.0,
             conductor_workers: int = 4, heartbeat_interval: float = 10.0, audit_interval: float = 0.0,
             stuck_after: float = 300.0, seed: int | None = None) -> Iterator[Cloud]:
        config = config or load_scheduler_config(None, db_url=db_url)
        with contextlib.ExitStack() as stack:
            if placement is None:
                placement = stack.enter_context(direct(db_url))
            registry = Registry.open(config.db_url, service_down_time=config.service_down_time,
                                     heartbeat_refresh=0)
            stack.callback(registry.close)
            store = ServerStore.open(db_url)
            stack.callback(store.close)
            transport = open_transport(transport_url)
            stack.callback(transport.close)
            scheduler = Scheduler(placement, registry, config)
            conductor = Conductor(store, scheduler, transport, workers=conductor_workers)
            auditor = Auditor(store, conductor, stuck_after=stuck_after)
            api = ComputeAPI(store, registry, transport)
            cloud = cls(placement=placement, registry=registry, store=store, scheduler=scheduler,
                        transport=transport, conductor=conductor, api=api, app=create_app(api), auditor=auditor,
                        heartbeat_interval=heartbeat_interval)
            conductor.start(audit_interval=audit_interval, audit=lambda: auditor.run(heal=True))
            stack.callback(conductor.stop)
            stack.callback(cloud.stop_computes)
            names = [f"compute{i + 1}" for i in range(computes)] if isinstance(computes, int) else list(computes)
            for i, name in enumerate(names):
                cloud.add_compute(name, inventory, driver=FakeDriver(
                    spawn_time=spawn_time, failure_rate=failure_rate, seed=None if seed is None else seed + i))
            yield cloud

    def add_compute(self, name: str, inventory: HostInventory | None = None, *, driver: Driver | None = None,
                    cell: str | None = None) -> ComputeAgent:
        """Start a compute agent in this process (a restarted one: the same name again).

        The agents of one Cloud share one heartbeat thread and take one message at a time
        each, so a thousand of them cost a thousand threads, not five thousand.
        """
        agent = ComputeAgent(name, inventory or HostInventory.simple(), placement=self.placement,
                             registry=self.registry, transport=self.transport, driver=driver, cell=cell,
                             heartbeat_interval=0, workers=1)
        agent.start()
        self.computes[name] = agent
        self._start_heartbeats()
        return agent

    def _start_heartbeats(self) -> None:
        if self._beats is not None or self.heartbeat_interval <= 0:
            return

        def beat() -> None:
            while not self._stop.wait(self.heartbeat_interval):
                for name in list(self.computes):
                    try:
                        self.registry.heartbeat(name)
                    except Exception:  # the registry is busy or the host was deleted: the next round tries again
                        pass

        self._beats = threading.Thread(target=beat, name="compute-heartbeats", daemon=True)
        self._beats.start()

    def stop_compute(self, name: str) -> None:
        self.computes.pop(name).stop()

    def stop_computes(self) -> None:
        self._stop.set()
        for name in list(self.computes):
            self.stop_compute(name)

    def audit(self, *, heal: bool = False) -> AuditReport:
        return self.auditor.run(heal=heal)

    def host_roots(self) -> dict[str, str]:
        return {h.name: h.provider_uuid for h in self.registry.list_hosts()}

    def wait_until(self, check: Callable[[], bool], timeout: float = 30.0) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.02)
        return check()
