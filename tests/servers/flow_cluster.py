"""The servers flow as separate processes over RabbitMQ: placement (``allotment serve``), the
compute API, a conductor, and compute agents, each a process a test can SIGKILL and restart.

Checks read the shared databases and placement from the test process: what is stuck, what
the audit finds, and whether placement's usages equal what live servers and open
migrations hold (``allotment.servers.audit.expected_usage``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from allotment.bench.servers import allotment_server, free_port
from allotment.client import PlacementClient, connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.servers import states
from allotment.servers.audit import Auditor, AuditReport, expected_usage
from allotment.servers.compute.inventory import provider_uuid
from allotment.servers.conductor import Conductor
from allotment.servers.store import ServerStore
from allotment.servers.transport import Transport, open_transport
from tests.servers.rabbit import delete_queues, isolated_url

ROOT = Path(__file__).resolve().parents[2]
FLAVOR = {"name": "small", "vcpus": 1, "memory_mb": 256, "root_gb": 1}
BIG = {"name": "big", "vcpus": 2, "memory_mb": 512, "root_gb": 2}
HOST_DOWN_TIME = 3600.0


class Cluster:
    def __init__(self, work: Path, placement_url: str, computes: list[str], *, spawn_time: float,
                 failure_rate: float, host: dict[str, int]) -> None:
        self.work = work
        self.computes = computes
        self.transport_url = isolated_url()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.config = {"placement": placement_url, "registry": f"sqlite:///{work / 'registry.sqlite'}",
                       "store": f"sqlite:///{work / 'servers.sqlite'}", "transport": self.transport_url,
                       "spawn_time": spawn_time, "failure_rate": failure_rate, "host": host}
        self.config_path = work / "flow.json"
        self.config_path.write_text(json.dumps(self.config))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}
        # Created here first, so the processes find the schemas made (no race between their migrations).
        self.store = ServerStore.open(self.config["store"])
        self.registry = Registry.open(self.config["registry"], service_down_time=HOST_DOWN_TIME)
        self.placement: PlacementClient = connect(placement_url, timeout=60)
        self.http = httpx.Client(base_url=self.api_url, timeout=30, headers={"x-auth-token": "demo:demo"})

    # ---- processes ----------------------------------------------------------------------------

    def _args(self, name: str) -> list[str]:
        if name == "api":
            return ["api", str(self.api_port)]
        if name == "conductor":
            return ["conductor"]
        return ["compute", name]

    def start(self, name: str, timeout: float = 60.0) -> None:
        self.starts[name] = self.starts.get(name, 0) + 1
        log = self.work / f"{name}.{self.starts[name]}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tests.servers.flow_peer", str(self.config_path),
                                     *self._args(name)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs[name] = proc
        deadline = time.monotonic() + timeout
        while b"ready\n" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ---- the API ------------------------------------------------------------------------------

    def create(self, count: int = 1, flavor: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        body = {"server": {"name": "s", "flavor": flavor or FLAVOR, "min_count": 1, "max_count": count, **extra}}
        r = self.http.post("/servers", json=body)
        assert r.status_code == 202, r.text
        return dict(r.json())

    def server(self, uuid: str) -> dict[str, Any]:
        r = self.http.get(f"/servers/{uuid}")
        assert r.status_code == 200, r.text
        return dict(r.json()["server"])

    def wait_status(self, uuid: str, *wanted: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            s = self.server(uuid)
            if s["status"] in wanted:
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"server {uuid} is {s['status']} ({s['task_state']}), not {wanted}")
            time.sleep(0.05)

    # ---- checks -------------------------------------------------------------------------------

    def transitional(self) -> list[Any]:
        return self.store.list_servers(task_states=states.TRANSITIONAL_TASKS)

    def wait_quiet(self, timeout: float) -> list[Any]:
        """Wait until no server is in a transitional task state; what is still there after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (busy := self.transitional()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return busy

    def auditor(self, transport: Transport, stuck_after: float) -> Auditor:
        scheduler = Scheduler(self.placement, self.registry, SchedulerConfig(
            placement_url=self.config["placement"], db_url=self.config["registry"],
            service_down_time=int(HOST_DOWN_TIME)))
        return Auditor(self.store, Conductor(self.store, scheduler, transport), stuck_after=stuck_after)

    def audit(self, *, heal: bool, stuck_after: float = 0.0) -> AuditReport:
        transport = open_transport(self.transport_url)
        try:
            return self.auditor(transport, stuck_after).run(heal=heal)
        finally:
            transport.close()

    def usage_mismatches(self) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
        """Per host whose placement usages differ from what its servers and open migrations hold: (placement, expected)."""
        roots = {h: provider_uuid(h) for h in self.computes}
        expected = expected_usage(self.store, roots)
        out = {}
        for host, root in roots.items():
            used = {rc: n for rc, n in self.placement.provider_usages(root).items() if n}
            want = {rc: n for rc, n in expected.get(root, {}).items() if n}
            if used != want:
                out[host] = (used, want)
        return out

    def close(self) -> None:
        self.stop_all()
        self.http.close()
        self.placement.close()
        self.store.close()
        self.registry.close()
        topics = {"conductor", *(f"compute.{h}" for h in self.computes)}
        delete_queues(self.transport_url, topics)


@contextmanager
def cluster(work: Path, computes: int, *, spawn_time: float = 0.0, failure_rate: float = 0.0,
            host: dict[str, int] | None = None) -> Iterator[Cluster]:
    """Placement, the API, a conductor and ``computes`` compute agents, each its own process."""
    with ExitStack() as stack:
        placement = stack.enter_context(allotment_server(f"sqlite:///{work / 'placement.sqlite'}", workers=2))
        c = Cluster(work, placement.url, [f"cn{i}" for i in range(computes)], spawn_time=spawn_time,
                    failure_rate=failure_rate, host=host or {"vcpus": 8, "memory_mb": 4096, "disk_gb": 100})
        stack.callback(c.close)
        c.start("conductor")
        for name in c.computes:
            c.start(name)
        c.start("api")
        yield c
