"""``capacity``: "how many of flavor X fit, by zone" over H hosts, and what explaining a refusal costs (allotment only).

Setup (not timed): the ``load`` workload (run first) made H = ``--providers`` providers
(VCPU 32 max_unit 16, MEMORY_MB 8192, DISK_GB 8192, in 1-3 of three aggregates); each is
registered as a host in a fresh registry, in one of three host aggregates with the
availability zones az1, az2 and az3 (round robin). In the benchmark process, over HTTP:

- ``--requests`` (R) capacity counts of a 2 VCPU / 1 GiB / 20 GiB flavor ``by="az"``: p50
  and p99, and the p50 of each step (placement's provider graph, host states, filters,
  counting);
- R ``select_destinations`` of one instance that fit (claimed), R dry runs of the same, and R
  refused ones (24 VCPU, above every host's max_unit), whose NoValidHost carries the
  explanation: the p50 of each call and of the explanation alone (``explain_ms``), the
  explanation's cost as a share of the succeeding call, and the refused call's (the goal:
  at most 1.05), in wall time and in this process's CPU (the scheduler's side).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from allotment.bench.stats import percentile
from allotment.bench.workloads import load
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.schedule import HOST_DOWN_TIME, HOST_FACTS, host_name
from allotment.client import connect
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.registry import Registry
from allotment.scheduler.service import Scheduler
from allotment.scheduler.spec import Flavor, RequestSpec

__all__ = ["WORKLOAD", "run"]

FLAVOR = Flavor(name="bench.capacity", vcpus=2, memory_mb=1024, root_gb=20)
TOO_BIG = Flavor(name="bench.too-big", vcpus=24, memory_mb=1024, root_gb=20)  # max_unit of VCPU is 16
ZONES = 3  # host i is in zone az{i % 3 + 1}
STEPS = ("placement_graph", "host_states", "filtering", "counting", "grouping")


def _p(values: list[float], q: float) -> float | None:
    return percentile(values, q) * 1000.0 if values else None


def run(ctx: Context) -> WorkloadResult:
    p = ctx.params
    providers = load.plan(p.providers, p.seed, ctx.run_index)
    with tempfile.TemporaryDirectory(prefix="allotment-bench-capacity-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        config = SchedulerConfig(placement_url=ctx.url, db_url=db_url, service_down_time=int(HOST_DOWN_TIME))
        with Registry.open(db_url, service_down_time=HOST_DOWN_TIME) as registry, \
                connect(ctx.url, timeout=p.timeout) as placement:
            for i, plan in enumerate(providers):
                registry.register_host(host_name(i), plan.uuid, HOST_FACTS)
            zones = [registry.create_aggregate(f"zone{z}", metadata={"availability_zone": f"az{z}"}).uuid
                     for z in range(1, ZONES + 1)]
            for i in range(len(providers)):
                registry.add_aggregate_host(zones[i % ZONES], host_name(i))
            scheduler = Scheduler(placement, registry, config)
            spec = RequestSpec.from_flavor(FLAVOR, project_id="bench", user_id="bench")
            first = time.perf_counter()
            answer = scheduler.capacity(spec, by="az")
            first_ms = (time.perf_counter() - first) * 1000.0
            calls: list[float] = []
            steps: dict[str, list[float]] = {s: [] for s in STEPS}
            for _ in range(p.requests):
                start = time.perf_counter()
                answer = scheduler.capacity(spec, by="az")
                calls.append(time.perf_counter() - start)
                for s in STEPS:
                    steps[s].append(answer.timings.get(s, 0.0))
            ok: list[float] = []
            dry: list[float] = []
            refused: list[float] = []
            explain: list[float] = []
            ok_cpu: list[float] = []
            refused_cpu: list[float] = []  # this process's CPU: the scheduler's share (placement is a server)
            for _ in range(p.requests):
                start, cpu = time.perf_counter(), time.process_time()
                scheduler.select_destinations(spec)
                ok.append(time.perf_counter() - start)
                ok_cpu.append(time.process_time() - cpu)
                start = time.perf_counter()
                scheduler.select_destinations(spec, dry_run=True)
                dry.append(time.perf_counter() - start)
                start, cpu = time.perf_counter(), time.process_time()
                try:
                    scheduler.select_destinations(RequestSpec.from_flavor(TOO_BIG, project_id="b", user_id="b"))
                except NoValidHost as exc:
                    refused.append(time.perf_counter() - start)
                    refused_cpu.append(time.process_time() - cpu)
                    if exc.explanation is not None:
                        explain.append(exc.explanation["explain_ms"] / 1000.0)
    ok_p50 = _p(ok, 50)
    refused_p50 = _p(refused, 50)
    ok_cpu_p50 = _p(ok_cpu, 50)
    explain_p50 = _p(explain, 50)
    figures: dict[str, Any] = {
        "capacity.p50_ms": _p(calls, 50), "capacity.p99_ms": _p(calls, 99),
        **{f"capacity.{s}.p50_ms": _p(v, 50) for s, v in steps.items()},
        "capacity.first_ms": first_ms, "instances_fit": answer.total, "exact": int(answer.exact),
        "hosts": answer.hosts,
        "schedule_ok.p50_ms": ok_p50, "dry_run.p50_ms": _p(dry, 50), "refused.p50_ms": refused_p50,
        "explain.p50_ms": explain_p50,
        "explain_share_of_ok": (explain_p50 / ok_p50) if explain_p50 is not None and ok_p50 else None,
        # The whole refused call, explanation included, against the call that fits (the goal: <= 1.05).
        "refused_share_of_ok": (refused_p50 / ok_p50) if refused_p50 is not None and ok_p50 else None,
        "schedule_ok.cpu_p50_ms": _p(ok_cpu, 50), "refused.cpu_p50_ms": _p(refused_cpu, 50),
        "refused_cpu_share_of_ok": (_p(refused_cpu, 50) or 0.0) / ok_cpu_p50 if refused_cpu and ok_cpu_p50 else None,
    }
    return WorkloadResult(figures=figures, details={
        "flavor": FLAVOR.__dict__, "by_az": answer.groups, "excluded": answer.excluded,
        "refused_flavor": TOO_BIG.__dict__, "requests": p.requests})


WORKLOAD = Workload(
    name="capacity",
    summary="how many of a flavor fit, by zone, over H hosts (p50, p99); explanation cost of a refusal "
            "(allotment only)",
    figures=(
        Figure("capacity.p50_ms", "ms", "lower", label="capacity by az: p50"),
        Figure("capacity.p99_ms", "ms", "lower", label="capacity by az: p99"),
        Figure("capacity.placement_graph.p50_ms", "ms", "lower", label="capacity: provider graph read p50"),
        Figure("capacity.host_states.p50_ms", "ms", "lower", label="capacity: host states p50"),
        Figure("capacity.filtering.p50_ms", "ms", "lower", label="capacity: filters p50"),
        Figure("capacity.counting.p50_ms", "ms", "lower", label="capacity: counting p50"),
        Figure("capacity.grouping.p50_ms", "ms", "lower", label="capacity: grouping by az p50"),
        Figure("capacity.first_ms", "ms", None, label="first capacity call", show=True),
        Figure("instances_fit", "", None, label="instances that fit", show=True),
        Figure("exact", "", None, label="exact (1) or greedy (0)", show=True),
        Figure("hosts", "", None, label="hosts", show=True),
        Figure("schedule_ok.p50_ms", "ms", "lower", label="select_destinations that fits (claims): p50"),
        Figure("dry_run.p50_ms", "ms", "lower", label="the same as a dry run: p50"),
        Figure("refused.p50_ms", "ms", "lower", label="refused select_destinations with explanation: p50"),
        Figure("explain.p50_ms", "ms", "lower", label="building the explanation: p50"),
        Figure("explain_share_of_ok", "", "lower", label="explanation / succeeding call"),
        Figure("refused_share_of_ok", "", "lower", label="refused call with explanation / succeeding call"),
        Figure("schedule_ok.cpu_p50_ms", "ms", "lower", label="succeeding call: scheduler CPU p50"),
        Figure("refused.cpu_p50_ms", "ms", "lower", label="refused call with explanation: scheduler CPU p50"),
        Figure("refused_cpu_share_of_ok", "", "lower", label="refused / succeeding call, scheduler CPU"),
    ),
    run=run,
    requires=("load",),
    targets=("allotment",),
)
