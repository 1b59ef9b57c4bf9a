"""The servers flow as separate processes over RabbitMQ, started with the project's own commands:

- placement: ``allotment serve --db DB`` (for the computes and the audit, over HTTP);
- the compute API with the conductor: ``allotment servers serve --db DB --transport AMQP``;
- each compute: ``allotment --url PLACEMENT compute run NAME --inventory FILE --transport AMQP``;
- the audit: ``allotment --url PLACEMENT audit --heal --servers-db DB --transport AMQP``.

They share one database (placement, registry and servers' records, as ``servers serve``
expects; SQLite unless a test gives another) and one broker, on queues of the test's own. A test can SIGKILL any of
them and start it again. Checks read the database and placement from the test process:
what is stuck, and whether placement's usages equal what live servers and open
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
from allotment.servers import states
from allotment.servers.audit import expected_usage
from allotment.servers.compute.inventory import provider_uuid
from allotment.servers.store import Server, ServerStore
from allotment.servers.transport.rabbit import delete_topics
from tests.servers.rabbit import isolated_url

FLAVOR = {"name": "small", "vcpus": 1, "memory_mb": 256, "root_gb": 1}
BIG = {"name": "big", "vcpus": 2, "memory_mb": 512, "root_gb": 2}
CONDUCTOR = "conductor"  # the compute API and the conductor: one process, as `allotment servers serve` runs them
READY = {CONDUCTOR: b"compute API on http://", "compute": b"running (provider"}


class Cluster:
    def __init__(self, work: Path, db_url: str, placement_url: str, computes: list[str], *, spawn_time: float,
                 failure_rate: float, host: dict[str, int]) -> None:
        self.work = work
        self.db_url = db_url
        self.placement_url = placement_url
        self.computes = computes
        self.spawn_time = spawn_time
        self.failure_rate = failure_rate
        self.transport_url = isolated_url()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.inventory = work / "inventory.json"
        self.inventory.write_text(json.dumps({"VCPU": host["vcpus"], "MEMORY_MB": host["memory_mb"],
                                              "DISK_GB": host["disk_gb"]}))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}
        self.store = ServerStore.open(db_url)  # the schema made before the processes start
        self.placement: PlacementClient = connect(placement_url, timeout=60)
        self.http = httpx.Client(base_url=self.api_url, timeout=30, headers={"x-auth-token": "demo:demo"})

    # ---- processes ----------------------------------------------------------------------------

    def _command(self, name: str) -> list[str]:
        cli = [sys.executable, "-m", "allotment"]
        if name == CONDUCTOR:
            return [*cli, "servers", "serve", "--db", self.db_url, "--port", str(self.api_port),
                    "--transport", self.transport_url, "--audit-interval", "0"]
        return [*cli, "--url", self.placement_url, "compute", "run", name, "--inventory", str(self.inventory),
                "--registry-db", self.db_url, "--transport", self.transport_url, "--heartbeat", "2",
                "--spawn-time", str(self.spawn_time), "--failure-rate", str(self.failure_rate)]

    def start(self, name: str, timeout: float = 60.0) -> None:
        self.starts[name] = self.starts.get(name, 0) + 1
        log = self.work / f"{name}.{self.starts[name]}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(self._command(name), stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs[name] = proc
        marker = READY[CONDUCTOR if name == CONDUCTOR else "compute"]
        deadline = time.monotonic() + timeout
        while marker not in log.read_bytes():
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

    def audit(self, *, heal: bool, stuck_after: float) -> list[dict[str, Any]]:
        """One ``allotment audit`` run: its findings (with what --heal did)."""
        args = [sys.executable, "-m", "allotment", "--url", self.placement_url, "audit", "--servers-db",
                self.db_url, "--stuck-after", str(stuck_after), "--transport", self.transport_url, "-f", "json"]
        done = subprocess.run([*args, *(["--heal"] if heal else [])], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

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

    def transitional(self) -> list[Server]:
        return self.store.list_servers(task_states=states.TRANSITIONAL_TASKS)

    def wait_quiet(self, timeout: float) -> list[Server]:
        """Wait until no server is in a transitional task state; what is still there after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (busy := self.transitional()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return busy

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

    def describe(self, hosts: list[str]) -> dict[str, Any]:
        """What a failed usage check needs to be understood: per host, placement's allocations by consumer,
        the servers the store puts there, and every open migration touching it."""
        moves = self.store.migrations(statuses=states.MIGRATION_IN_PROGRESS)
        out: dict[str, Any] = {}
        for host in hosts:
            out[host] = {
                "allocations": self.placement.provider_allocations(provider_uuid(host)),
                "servers": [(s.uuid, s.vm_state, s.task_state, s.flavor.get("name"))
                            for s in self.store.list_servers(host=host)],
                "migrations": [(m.instance_uuid, m.status, m.source_host, m.dest_host) for m in moves
                               if host in (m.source_host, m.dest_host)],
            }
        return out

    def close(self) -> None:
        self.stop_all()
        self.http.close()
        self.placement.close()
        self.store.close()
        topics = {"conductor", *(f"compute.{h}" for h in self.computes)}
        delete_topics(self.transport_url, topics)


@contextmanager
def cluster(work: Path, computes: int, *, spawn_time: float = 0.0, failure_rate: float = 0.0,
            host: dict[str, int] | None = None, db_url: str | None = None) -> Iterator[Cluster]:
    """Placement, the compute API with the conductor, and ``computes`` compute agents, each its own process,
    on ``db_url`` (default: a SQLite file in ``work``)."""
    db_url = db_url or f"sqlite:///{work / 'allotment.sqlite'}"
    with ExitStack() as stack:
        placement = stack.enter_context(allotment_server(db_url, workers=2))
        c = Cluster(work, db_url, placement.url, [f"cn{i}" for i in range(computes)], spawn_time=spawn_time,
                    failure_rate=failure_rate, host=host or {"vcpus": 8, "memory_mb": 4096, "disk_gb": 100})
        stack.callback(c.close)
        c.start(CONDUCTOR)
        for name in c.computes:
            c.start(name)
        yield c
