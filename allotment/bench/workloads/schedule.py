"""``schedule``: the scheduler's ``select_destinations`` over H hosts (allotment only).

Upstream Placement has no scheduler, so this workload runs against the allotment
target alone and its figures get no ratio.

Setup (not timed): the ``load`` workload (run first) made H = ``--providers``
providers in placement; each is registered as a compute host in a scheduler
registry of its own, a fresh SQLite file in a temporary directory (registering
counts as the host's heartbeat). Then, in the benchmark process,
``Scheduler(connect(url), registry, config)`` with the default filters and
weighers places servers of a small flavor (1 VCPU, 256 MB, 10 GB root disk):

- one untimed first request (it loads the registry snapshot; its time is kept
  as ``first_call_ms``);
- ``--requests`` (R) requests of 1 instance: p50 and p95 of the call, and the
  p50 of each stage the scheduler times (request filters, placement query,
  host states, filtering, weighing, claim: recording the instance in the
  registry included);
- ``MULTI_REQUESTS`` requests of 10 and as many of 100 instances: the call's
  time divided by its instances.

``instances_per_s`` is every placed instance over the time spent in the timed
calls. A request that does not fit is counted in ``no_valid_host``. Finally an
audit reads back every provider an allocation was claimed on: usage within
``(total - reserved) * allocation_ratio`` (``overcommitted_providers`` must be
0), usages equal to the sum of the allocations, and every placed instance found
as a consumer.

Hosts count as up for ``HOST_DOWN_TIME`` seconds after they register: a real
fleet heartbeats every few seconds, and heartbeating 10,000 hosts from the
benchmark process would be measured along with the scheduler.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from allotment.bench.http import Client, Recorder
from allotment.bench.stats import median, percentile
from allotment.bench.workloads import load
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.claim import audit_provider
from allotment.bench.workloads.trees import seeded_uuid
from allotment.client import connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.service import Scheduler
from allotment.scheduler.registry import Registry
from allotment.scheduler.spec import Flavor, Image, RequestSpec

__all__ = ["FLAVOR", "HOST_DOWN_TIME", "MULTI_REQUESTS", "STAGES", "WORKLOAD", "host_name", "run"]

FLAVOR: dict[str, Any] = {"name": "bench.small", "vcpus": 1, "memory_mb": 256, "root_gb": 10}
MULTI_REQUESTS = 3  # requests of 10 and of 100 instances
HOST_DOWN_TIME = 3600.0
#: Stages of ``ScheduleResult.timings`` reported for the 1-instance requests (p50 each).
STAGES = ("request_filters", "placement_query", "host_states", "filtering", "weighing", "claim")
HOST_FACTS = {
    "hypervisor_type": "QEMU",
    "hypervisor_version": 8002000,
    "cpu_info": {"arch": "x86_64"},
    "supported_instances": [["x86_64", "qemu", "hvm"]],
}


def host_name(index: int) -> str:
    return f"bench-host-{index:05d}"


def _register_hosts(registry: Registry, providers: Iterable[load.ProviderPlan]) -> int:
    count = 0
    for i, p in enumerate(providers):
        registry.register_host(host_name(i), p.uuid, HOST_FACTS)
        count += 1
    return count


class _Requests:
    """Builds the specs and runs them, keeping each call's time, its stage timings and what it claimed."""

    def __init__(self, scheduler: Scheduler, seed: int, run_index: int) -> None:
        self.scheduler = scheduler
        self.rng = random.Random(f"allotment-bench-schedule:{seed}:{run_index}")
        self.project, self.user = seeded_uuid(self.rng), seeded_uuid(self.rng)
        self.flavor = Flavor(**FLAVOR)
        self.image = Image(id=seeded_uuid(self.rng), disk_format="qcow2")
        self.placed: list[str] = []  # instance uuids
        self.claimed_on: set[str] = set()  # provider uuids of the claimed allocation requests
        self.no_valid_host = 0
        self.reasons: list[str] = []

    def place(self, count: int) -> tuple[float, dict[str, float]] | None:
        """Schedule ``count`` instances in one call: (seconds, stage timings), or None for NoValidHost."""
        uuids = [seeded_uuid(self.rng) for _ in range(count)]
        spec = RequestSpec.from_flavor(self.flavor, self.image, project_id=self.project, user_id=self.user,
                                       num_instances=count, instance_uuids=uuids)
        start = time.perf_counter()
        try:
            result = self.scheduler.select_destinations(spec)
        except NoValidHost as exc:
            self.no_valid_host += 1
            if len(self.reasons) < 5:
                self.reasons.append(exc.reason)
            return None
        elapsed = time.perf_counter() - start
        self.placed.extend(result.instance_uuids)
        for row in result.selections:  # per instance: the claimed host first, then unclaimed alternates
            self.claimed_on.update(row[0].allocation_request["allocations"])
        return elapsed, dict(result.timings)


def _p(values: list[float], q: float) -> float | None:
    return percentile(values, q) * 1000.0 if values else None


def _audit(url: str, providers: Iterable[str], placed: set[str], timeout: float) -> dict[str, Any]:
    """Read back the providers claimed on: overcommit, usages against allocations, the placed consumers found."""
    rec = Recorder()
    over: dict[str, list[str]] = {}
    mismatched: list[str] = []
    unreadable: list[str] = []
    found: set[str] = set()
    with Client(url, timeout=timeout) as c:
        for rp in sorted(providers):
            base = f"/resource_providers/{rp}"
            inv, use, allocs = (rec.request(c, "GET", f"{base}/{what}")
                                for what in ("inventories", "usages", "allocations"))
            if inv is None or use is None or allocs is None:
                unreadable.append(rp)
                continue
            a = audit_provider(inv.json()["inventories"], use.json()["usages"], allocs.json()["allocations"])
            found |= a.consumers & placed
            if a.overcommitted:
                over[rp] = list(a.overcommitted)
            if not a.usage_matches_allocations:
                mismatched.append(rp)
    return {"overcommitted": over, "usage_mismatch": mismatched, "unreadable": unreadable,
            "placed_found": len(found), "requests": rec.details()}


def _measure(requests: _Requests, ones: int) -> dict[str, Any]:
    """The untimed first request, ``ones`` requests of 1 instance, then those of 10 and 100: the timing figures."""
    first = requests.place(1)
    one: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    per_instance: dict[int, list[float]] = {10: [], 100: []}
    busy = 0.0
    placed_before = len(requests.placed)
    for _ in range(ones):
        got = requests.place(1)
        if got is not None:
            one.append(got[0])
            busy += got[0]
            for stage in STAGES:
                if stage in got[1]:
                    stages[stage].append(got[1][stage])
    for size in (10, 100):
        for _ in range(MULTI_REQUESTS):
            got = requests.place(size)
            if got is not None:
                per_instance[size].append(got[0] / size)
                busy += got[0]
    placed = len(requests.placed) - placed_before
    return {
        "one.p50_ms": _p(one, 50), "one.p95_ms": _p(one, 95),
        **{f"one.{s}.p50_ms": _p(v, 50) for s, v in stages.items()},
        "ten.per_instance_ms": median(per_instance[10]) * 1000.0 if per_instance[10] else None,
        "hundred.per_instance_ms": median(per_instance[100]) * 1000.0 if per_instance[100] else None,
        "instances_per_s": placed / busy if busy > 0 else None,
        "instances_placed": placed,
        "first_call_ms": first[0] * 1000.0 if first is not None else None,
    }


def run(ctx: Context) -> WorkloadResult:
    p = ctx.params
    providers = load.plan(p.providers, p.seed, ctx.run_index)
    with tempfile.TemporaryDirectory(prefix="allotment-bench-schedule-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        config = SchedulerConfig(placement_url=ctx.url, db_url=db_url, service_down_time=int(HOST_DOWN_TIME))
        start = time.perf_counter()
        with Registry.open(db_url, service_down_time=HOST_DOWN_TIME) as registry:
            hosts = _register_hosts(registry, providers)
            setup_s = time.perf_counter() - start
            with connect(ctx.url, timeout=p.timeout) as placement:
                requests = _Requests(Scheduler(placement, registry, config), p.seed, ctx.run_index)
                figures = _measure(requests, p.requests)
    audit = _audit(ctx.url, requests.claimed_on, set(requests.placed), p.timeout)
    figures.update({
        "no_valid_host": requests.no_valid_host,
        "overcommitted_providers": len(audit["overcommitted"]),
        "usage_mismatches": len(audit["usage_mismatch"]) + len(audit["unreadable"]),
        "placed_without_allocation": len(requests.placed) - audit["placed_found"],
        "hosts": hosts,
        "setup_s": setup_s,
    })
    return WorkloadResult(figures=figures, details={
        "flavor": FLAVOR, "requests_of_one": p.requests, "requests_of_ten_and_hundred": MULTI_REQUESTS,
        "registry": "sqlite (temporary file)", "filters": config.enabled_filters, "weighers": config.enabled_weighers,
        "no_valid_host_reasons": requests.reasons, "providers_claimed_on": len(requests.claimed_on),
        "audit": audit,
    })


WORKLOAD = Workload(
    name="schedule",
    summary="scheduler select_destinations for 1, 10 and 100 instances over H hosts; no overcommit (allotment only)",
    figures=(
        Figure("one.p50_ms", "ms", "lower", label="1 instance: p50 per request"),
        Figure("one.p95_ms", "ms", "lower", label="1 instance: p95 per request"),
        Figure("one.request_filters.p50_ms", "ms", "lower", label="1 instance: request filters p50"),
        Figure("one.placement_query.p50_ms", "ms", "lower", label="1 instance: placement query p50"),
        Figure("one.host_states.p50_ms", "ms", "lower", label="1 instance: host states p50"),
        Figure("one.filtering.p50_ms", "ms", "lower", label="1 instance: filtering p50"),
        Figure("one.weighing.p50_ms", "ms", "lower", label="1 instance: weighing p50"),
        Figure("one.claim.p50_ms", "ms", "lower", label="1 instance: claim p50"),
        Figure("ten.per_instance_ms", "ms", "lower", label="10 instances: per instance"),
        Figure("hundred.per_instance_ms", "ms", "lower", label="100 instances: per instance"),
        Figure("instances_per_s", "instances/s", "higher", label="instances/s"),
        Figure("first_call_ms", "ms", None, label="first request (loads the registry)", show=True),
        Figure("instances_placed", "", None, label="instances placed (timed)", show=True),
        Figure("no_valid_host", "", None, agg="sum", label="NoValidHost", show=True),
        Figure("overcommitted_providers", "", None, agg="sum", label="overcommitted providers (must be 0)",
               show=True),
        Figure("usage_mismatches", "", None, agg="sum", label="usages != sum of allocations (must be 0)", show=True),
        Figure("placed_without_allocation", "", None, agg="sum", label="placed without an allocation (must be 0)",
               show=True),
        Figure("hosts", "", None, label="hosts registered", show=True),
        Figure("setup_s", "s", None, label="registering the hosts"),
    ),
    run=run,
    requires=("load",),
    targets=("allotment",),
)
