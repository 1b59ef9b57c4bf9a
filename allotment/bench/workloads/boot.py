"""``boot``: N servers created through the compute API over HTTP onto N fake computes, 5% of builds failing.

allotment only (upstream Placement has no servers flow). The placement server is the
runner's (``ctx.url``, over HTTP). In the benchmark process, untimed setup: a scheduler
registry and a servers store (SQLite files in a temporary directory), the scheduler with
its default filters and weighers, a conductor, and N = ``--providers`` compute agents
(``bench-host-NNNNN``, 8 VCPU / 16 GB / 200 GB each) with fake drivers that fail
``FAILURE_RATE`` of their spawns, each reporting its provider tree to placement and
registering; they talk through ``--transport`` (``inprocess://`` by default, or an
``amqp://`` URL: RabbitMQ). The compute API is served over HTTP from a thread.

Timed: ``--concurrency`` clients POST ``/servers`` with ``max_count`` = ``BATCH`` until N
servers are asked for, then the run waits until none is building any more. A build that
fails is rescheduled by the conductor onto the next alternate (up to the scheduler's
``max_attempts``).

Figures: ``servers_per_s`` (servers ACTIVE over the time from the first create to the
last one settled), p50/p99 of create→ACTIVE per server (the record's ``launched_at`` minus
its ``created_at``: with every create sent within seconds, mostly time queued behind the
scheduler), the CPU both processes spent while timed (``cpu_ms_per_server``: what the
flow costs, apart from how busy the machine was), ``reschedules`` (builds retried elsewhere), ``build_failures`` (fake
spawns that failed), ``errored`` servers, and the leak checks, read back from placement
after the run: ``leaked_allocations`` (consumers holding allocations that are not ACTIVE
servers, plus ACTIVE servers whose allocations are not exactly their flavor on their
host; must be 0), ``overcommitted_providers`` (must be 0), and what the servers flow's own
audit finds (``audit_findings``, must be 0).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import sqlalchemy as sa

from allotment.bench.procstat import cpu_delta, cpu_seconds, descendants
from allotment.bench.stats import percentile
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.claim import audit_provider
from allotment.client import connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.servers import states
from allotment.servers.api.app import create_app
from allotment.servers.audit import Auditor
from allotment.servers.compute.agent import ComputeAgent
from allotment.servers.compute.driver import BuildFailed, FakeDriver
from allotment.servers.compute.inventory import HostInventory, provider_uuid
from allotment.servers.compute_api import ComputeAPI
from allotment.servers.conductor import Conductor
from allotment.servers.messages import CONDUCTOR_TOPIC, compute_topic
from allotment.servers.specs import flavor_resources
from allotment.servers.store import ServerStore
from allotment.servers.store import tables
from allotment.servers.transport import open_transport

__all__ = ["BATCH", "FAILURE_RATE", "FLAVOR", "HOST", "WORKLOAD", "CountingDriver", "run"]

FLAVOR: dict[str, Any] = {"name": "bench.small", "vcpus": 1, "memory_mb": 512, "root_gb": 10}
HOST = {"vcpus": 8, "memory_mb": 16384, "disk_gb": 200}
FAILURE_RATE = 0.05
BATCH = 10  # servers per create request (max_count)
HOST_DOWN_TIME = 3600.0  # hosts registered once count as up for the whole run (no heartbeats measured)
SETTLE_TIMEOUT_S = 600.0
STALL_S = 30.0  # no server changed state for this long: what still builds is stuck (a message lost)
SETUP_THREADS = 8
# Sixteen settled 1.2x faster than four at 300 servers, but at 1,000 some placement connections were
# reset under them, and the conductor leaves such a create in `scheduling` for the audit to find.
CONDUCTOR_WORKERS = 4


def host_name(index: int) -> str:
    return f"bench-host-{index:05d}"


class CountingDriver(FakeDriver):
    """The fake driver, counting the spawns it failed (each is a reschedule or an ERROR)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failed = 0

    def spawn(self, instance: str, flavor: Mapping[str, Any], image: Mapping[str, Any]) -> None:
        try:
            super().spawn(instance, flavor, image)
        except BuildFailed:
            self.failed += 1
            raise


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    """The WSGI ``app`` over HTTP on a free loopback port, one thread per connection."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="boot-compute-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _create_all(api_url: str, total: int, concurrency: int, timeout: float) -> tuple[list[str], list[str]]:
    """POST creates of ``BATCH`` servers until ``total`` are asked for: (server uuids, errors)."""
    batches = [min(BATCH, total - i) for i in range(0, total, BATCH)]
    uuids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def create(k: int, count: int) -> None:
        body = {"server": {"name": f"boot-{k}", "flavor": FLAVOR, "image": {"id": str(uuid.UUID(int=k + 1))},
                           "min_count": 1, "max_count": count}}
        r = client.post("/servers", json=body, headers={"x-auth-token": "bench:bench"})
        with lock:
            if r.status_code == 202:
                uuids.extend(s["id"] for s in r.json()["servers"])
            else:
                errors.append(f"{r.status_code} {r.text[:200]}")

    # One client for every thread (httpx clients are thread-safe): a client per create would cost an SSL
    # context and a connection each, CPU taken from the flow that shares this process.
    limits = httpx.Limits(max_connections=max(1, concurrency))
    with httpx.Client(base_url=api_url, timeout=timeout, limits=limits) as client, \
            ThreadPoolExecutor(max(1, concurrency)) as pool:
        for f in [pool.submit(create, k, n) for k, n in enumerate(batches)]:
            f.result()
    return uuids, errors


def _settle(store: ServerStore, count: int, timeout: float) -> tuple[float, int]:
    """Wait until the ``count`` servers created are none of them building, or until nothing has
    changed for ``STALL_S``: (the time it ended, perf_counter; servers still building).

    A count in SQL, every 50 ms: listing the servers that often would cost the run more CPU
    than it measures.
    """
    building = sa.select(sa.func.count()).select_from(tables.instances).where(
        tables.instances.c.vm_state == states.BUILDING)
    total = sa.select(sa.func.count()).select_from(tables.instances)
    deadline = time.monotonic() + timeout
    last, last_change = (-1, -1), time.monotonic()
    while True:
        with store.db.read() as conn:
            left = int(conn.execute(building).scalar_one())
            created = int(conn.execute(total).scalar_one())
        if created >= count and not left:
            return time.perf_counter(), 0
        now_ = time.monotonic()
        if (left, created) != last:
            last, last_change = (left, created), now_
        elif now_ - last_change > STALL_S or now_ > deadline:
            return time.perf_counter(), left
        time.sleep(0.05)


def _leaks(placement_url: str, root_of: dict[str, str], servers: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Read every compute's provider back from placement: leaked allocations, overcommit, usage mismatch."""
    held: dict[str, dict[str, dict[str, int]]] = {}  # consumer -> provider -> resources
    over: list[str] = []
    mismatched: list[str] = []
    with httpx.Client(base_url=placement_url, timeout=timeout,
                      headers={"x-auth-token": "admin", "openstack-api-version": "placement latest"}) as c:
        for rp in root_of.values():
            base = f"/resource_providers/{rp}"
            inv, use, allocs = (c.get(f"{base}/{what}").json() for what in ("inventories", "usages", "allocations"))
            a = audit_provider(inv["inventories"], use["usages"], allocs["allocations"])
            if a.overcommitted:
                over.append(rp)
            if not a.usage_matches_allocations:
                mismatched.append(rp)
            for consumer, body in allocs["allocations"].items():
                held.setdefault(consumer, {})[rp] = dict(body["resources"])
    leaked = []
    for consumer, by_provider in held.items():
        s = servers.get(consumer)
        if s is None or s.vm_state != states.ACTIVE:
            leaked.append(consumer)
        elif by_provider != {root_of.get(s.host or ""): flavor_resources(s.flavor)}:
            leaked.append(consumer)
    active_without = [u for u, s in servers.items() if s.vm_state == states.ACTIVE and u not in held]
    return {"leaked": leaked, "active_without_allocations": active_without, "overcommitted": over,
            "usage_mismatch": mismatched, "consumers": len(held)}


def run(ctx: Context) -> WorkloadResult:
    p = ctx.params
    n = p.providers
    if p.boot_processes and not p.transport.startswith("amqp"):
        raise ValueError("--boot-processes needs --transport amqp://...: the worker processes reach the API through it")
    rng = random.Random(f"allotment-bench-boot:{p.seed}:{ctx.run_index}")
    with tempfile.TemporaryDirectory(prefix="allotment-bench-boot-") as tmp:
        registry_url = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        store_url = f"sqlite:///{Path(tmp) / 'servers.sqlite'}"
        # Topics of their own on a shared broker, so a run never sees an earlier run's casts.
        transport_url = p.transport
        if transport_url.startswith("amqp") and "queue_prefix=" not in transport_url:
            sep = "&" if "?" in transport_url else "?"
            transport_url += f"{sep}queue_prefix=bench-boot-{uuid.uuid4().hex[:8]}."
        transport = open_transport(transport_url)
        config = SchedulerConfig(placement_url=ctx.url, db_url=registry_url, service_down_time=int(HOST_DOWN_TIME))
        setup_start = time.perf_counter()
        with Registry.open(registry_url, service_down_time=HOST_DOWN_TIME) as registry, \
                ServerStore.open(store_url) as store, \
                connect(ctx.url, timeout=p.timeout) as placement, \
                connect(ctx.url, timeout=p.timeout) as agents_placement:
            scheduler = Scheduler(placement, registry, config)
            conductor = Conductor(store, scheduler, transport, workers=CONDUCTOR_WORKERS)
            workers = p.boot_processes
            local = range(n) if not workers else range(0)
            drivers = [CountingDriver(failure_rate=FAILURE_RATE, seed=rng.randrange(2**32)) for _ in local]
            agents = [ComputeAgent(host_name(i), HostInventory.simple(**HOST), placement=agents_placement,
                                   registry=registry, transport=transport, driver=drivers[i],
                                   heartbeat_interval=0, workers=1) for i in local]
            procs: list[subprocess.Popen[str]] = []
            worker_failures = 0
            try:
                if workers:
                    procs = _start_workers(Path(tmp), workers, {
                        "placement": ctx.url, "registry": registry_url, "store": store_url,
                        "transport": transport_url, "computes": n, "workers": workers, "timeout": p.timeout,
                        "seed": rng.randrange(2**31)})
                else:
                    conductor.start()
                    with ThreadPoolExecutor(SETUP_THREADS) as pool:
                        list(pool.map(lambda a: a.start(), agents))
                setup_s = time.perf_counter() - setup_start
                with _serve(create_app(ComputeAPI(store, registry, transport))) as api_url:
                    server_pids = descendants(ctx.server_pid) if ctx.server_pid is not None else []
                    server_cpu = cpu_seconds(server_pids)
                    worker_pids = [proc.pid for proc in procs]
                    worker_cpu = cpu_seconds(worker_pids)
                    own_cpu = time.process_time()
                    start = time.perf_counter()
                    uuids, create_errors = _create_all(api_url, n, p.concurrency, p.timeout)
                    created_s = time.perf_counter() - start
                    settled, stuck = _settle(store, len(uuids), SETTLE_TIMEOUT_S)
                    elapsed = settled - start
                    own_cpu_s = time.process_time() - own_cpu + cpu_delta(worker_cpu, cpu_seconds(worker_pids))
                    placement_cpu_s = cpu_delta(server_cpu, cpu_seconds(server_pids)) if server_pids else None
                servers = {u: store.get(u) for u in uuids}
                requests = {u: store.build_request(u) for u in uuids}
                audit = Auditor(store, conductor).run(heal=False)
            finally:
                worker_failures = _stop_workers(procs)
                conductor.stop()
                for a in agents:
                    a.stop()
                transport.close()
                if transport_url.startswith("amqp"):  # even after a failure: the broker keeps queues forever
                    _delete_topics(transport_url, {CONDUCTOR_TOPIC, *(compute_topic(host_name(i)) for i in range(n))})
            leaks = _leaks(ctx.url, {host_name(i): provider_uuid(host_name(i)) for i in range(n)}, servers,
                           p.timeout)
    live = {u: s for u, s in servers.items() if s is not None}
    active = [s for s in live.values() if s.vm_state == states.ACTIVE]
    errored = [s for s in live.values() if s.vm_state == states.ERROR]
    to_active = [(s.launched_at - s.created_at).total_seconds() for s in active if s.launched_at is not None]
    attempts = [r.attempts for r in requests.values() if r is not None]
    reschedules = sum(max(0, a - 1) for a in attempts)
    figures: dict[str, float | int | None] = {
        "servers_per_s": len(active) / elapsed if elapsed > 0 else None,
        "create_to_active.p50_ms": percentile(to_active, 50) * 1000.0 if to_active else None,
        "create_to_active.p99_ms": percentile(to_active, 99) * 1000.0 if to_active else None,
        "creates_s": created_s,
        "timed.bench_cpu_s": own_cpu_s,
        "timed.placement_cpu_s": placement_cpu_s,
        "cpu_ms_per_server": (own_cpu_s + (placement_cpu_s or 0.0)) * 1000.0 / len(uuids) if uuids else None,
        "wall_s": elapsed,
        "servers_active": len(active),
        "servers_error": len(errored),
        "stuck_building": stuck,
        "build_failures": sum(d.failed for d in drivers) + worker_failures,
        "reschedules": reschedules,
        "create_errors": len(create_errors),
        "leaked_allocations": len(leaks["leaked"]) + len(leaks["active_without_allocations"]),
        "overcommitted_providers": len(leaks["overcommitted"]),
        "usage_mismatches": len(leaks["usage_mismatch"]),
        "audit_findings": len(audit.findings),
        "computes": n,
        "setup_s": setup_s,
    }
    faults = Counter(str((s.vm_state, s.task_state)) for s in live.values() if s.vm_state != states.ACTIVE)
    return WorkloadResult(figures=figures, details={
        "flavor": FLAVOR, "host": HOST, "failure_rate": FAILURE_RATE, "batch": BATCH,
        "transport": transport_url.split("?", 1)[0].split("@")[-1] if "@" in transport_url else transport_url,
        "max_attempts": conductor.max_attempts, "create_errors": create_errors[:5],
        "not_active": dict(faults), "leaks": {k: v[:10] if isinstance(v, list) else v for k, v in leaks.items()},
        "audit": [f.to_dict() for f in audit.findings[:10]], "attempts": {str(k): v for k, v in sorted(Counter(attempts).items())},
    })


def _start_workers(tmp: Path, count: int, config: dict[str, Any]) -> list[subprocess.Popen[str]]:
    """``count`` worker processes (``allotment.bench.boot_worker``), each a conductor and a share of the computes."""
    path = tmp / "boot-workers.json"
    path.write_text(json.dumps(config))
    procs = [subprocess.Popen([sys.executable, "-m", "allotment.bench.boot_worker", str(path), str(i)],
                              stdout=subprocess.PIPE, text=True) for i in range(count)]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            _stop_workers(procs)
            raise RuntimeError(f"boot worker did not start (exit {proc.poll()}): {line!r}")
    return procs


def _stop_workers(procs: list[subprocess.Popen[str]]) -> int:
    """Stop the workers; the builds their fake drivers failed, summed."""
    failures = 0
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        for line in (out or "").splitlines():
            if line.startswith("{"):
                failures += int(json.loads(line)["build_failures"])
    return failures


def _delete_topics(url: str, topics: set[str]) -> None:
    from allotment.servers.transport.rabbit import delete_topics  # pika only when RabbitMQ is used

    delete_topics(url, topics)


WORKLOAD = Workload(
    name="boot",
    summary="N servers through the compute API over HTTP onto N fake computes, 5% build failures (allotment only)",
    figures=(
        Figure("servers_per_s", "servers/s", "higher", label="servers/s (first create to last ACTIVE)"),
        Figure("create_to_active.p50_ms", "ms", "lower", label="create → ACTIVE p50"),
        Figure("create_to_active.p99_ms", "ms", "lower", label="create → ACTIVE p99"),
        Figure("creates_s", "s", "lower", label="time to send every create"),
        Figure("timed.bench_cpu_s", "s", "lower", label="CPU while timed: API, conductor(s), computes"),
        Figure("timed.placement_cpu_s", "s", "lower", label="CPU while timed: placement server"),
        Figure("cpu_ms_per_server", "ms", "lower", label="CPU per server, both processes"),
        Figure("wall_s", "s", "lower", label="first create to last settled"),
        Figure("servers_active", "", None, label="servers ACTIVE", show=True),
        Figure("servers_error", "", None, agg="sum", label="servers ERROR", show=True),
        Figure("stuck_building", "", None, agg="sum", label="still building when the run ended (must be 0)",
               show=True),
        Figure("build_failures", "", None, label="fake spawns failed", show=True),
        Figure("reschedules", "", None, label="builds rescheduled onto an alternate", show=True),
        Figure("create_errors", "", None, agg="sum", label="creates refused (must be 0)", show=True),
        Figure("leaked_allocations", "", None, agg="sum", label="leaked allocations (must be 0)", show=True),
        Figure("overcommitted_providers", "", None, agg="sum", label="overcommitted providers (must be 0)",
               show=True),
        Figure("usage_mismatches", "", None, agg="sum", label="usages != sum of allocations (must be 0)", show=True),
        Figure("audit_findings", "", None, agg="sum", label="audit findings (must be 0)", show=True),
        Figure("computes", "", None, label="fake computes", show=True),
        Figure("setup_s", "s", None, label="starting the computes"),
    ),
    run=run,
    targets=("allotment",),
)
