"""``ac`` and ``ac-conc``: the allocation-candidates query of upstream's perf job, over loaded data.

``ac`` sends each query variant ``requests`` times (20 by default), one after
another, and reports p50/p95 latency and the number of candidates returned:

- ``filtered``: resources + ``member_of`` the first placeload aggregate +
  ``required=HW_CPU_X86_AVX2`` (the perf job's query; every loaded provider matches);
- ``limit10``: the same with ``&limit=10``;
- ``limit1000``: the same with ``&limit=1000`` (the scale figure at 100,000 providers);
- ``resources``: resources only.

``ac-conc`` sends the ``filtered`` query from ``concurrency`` clients at once,
``conc_requests`` (500) in all, and reports requests/s (the perf job's ``ab`` run).
"""

from __future__ import annotations

import threading
import time

import orjson

from allotment.bench.http import Client, Recorder
from allotment.bench.stats import summarize_latencies
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.load import AGGREGATES

__all__ = ["CONCURRENT_WORKLOAD", "FILTERED", "VARIANTS", "WORKLOAD"]

RESOURCES = "resources=VCPU:1,DISK_GB:10,MEMORY_MB:256"
FILTERED = f"{RESOURCES}&member_of={AGGREGATES[0]}&required=HW_CPU_X86_AVX2"
VARIANTS = {
    "filtered": FILTERED,
    "limit10": f"{FILTERED}&limit=10",
    "limit1000": f"{FILTERED}&limit=1000",
    "resources": RESOURCES,
}


def _candidates(content: bytes) -> int | None:
    try:
        return len(orjson.loads(content)["allocation_requests"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def run(ctx: Context) -> WorkloadResult:
    rec = Recorder()
    figures: dict[str, float | int | None] = {}
    details: dict[str, object] = {"expected_candidates": ctx.state.get("providers")}
    with Client(ctx.url) as c:
        for name, query in VARIANTS.items():
            path = f"/allocation_candidates?{query}"
            durations = []
            counts = set()
            for _ in range(ctx.params.requests):
                start = time.perf_counter()
                resp = rec.request(c, "GET", path)
                durations.append(time.perf_counter() - start)
                if resp is not None:
                    counts.add(_candidates(resp.content))
            lat = summarize_latencies(durations)
            figures[f"{name}.p50_ms"] = lat["p50_ms"]
            figures[f"{name}.p95_ms"] = lat["p95_ms"]
            figures[f"{name}.candidates"] = next(iter(counts)) if len(counts) == 1 else None
            details[name] = {"query": query, **lat, "candidate_counts_seen": sorted(counts, key=str)}
    figures["non_2xx"] = rec.non_2xx
    details.update(rec.details())
    return WorkloadResult(figures=figures, details=details)


def run_concurrent(ctx: Context) -> WorkloadResult:
    rec = Recorder(keep_durations=True)
    path = f"/allocation_candidates?{FILTERED}"
    lock = threading.Lock()
    remaining = ctx.params.conc_requests

    def worker() -> None:
        nonlocal remaining
        with Client(ctx.url) as c:
            while True:
                with lock:
                    if remaining <= 0:
                        return
                    remaining -= 1
                rec.request(c, "GET", path)

    threads = [threading.Thread(target=worker, name=f"ac-conc-{i}") for i in range(max(1, ctx.params.concurrency))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = summarize_latencies(rec.durations or [0.0])
    return WorkloadResult(
        figures={
            "wall_s": wall,
            "requests_per_s": rec.requests / wall if wall > 0 else None,
            "p50_ms": lat["p50_ms"],
            "p95_ms": lat["p95_ms"],
            "non_2xx": rec.non_2xx,
        },
        details={**rec.details(), "concurrency": ctx.params.concurrency, "query": FILTERED},
    )


def _variant_figures() -> tuple[Figure, ...]:
    out: list[Figure] = []
    for name in VARIANTS:
        out += [
            Figure(f"{name}.p50_ms", "ms", "lower", label=f"{name} p50"),
            Figure(f"{name}.p95_ms", "ms", "lower", label=f"{name} p95"),
            Figure(f"{name}.candidates", "", None, label=f"{name} candidates"),
        ]
    return tuple(out)


WORKLOAD = Workload(
    name="ac",
    summary="GET /allocation_candidates (filtered, limit=10, resources only), sequential; p50/p95, candidates",
    figures=(*_variant_figures(), Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)")),
    run=run,
    requires=("load",),
)

CONCURRENT_WORKLOAD = Workload(
    name="ac-conc",
    summary="the filtered candidates query from `concurrency` clients, 500 requests; requests/s",
    figures=(
        Figure("requests_per_s", "req/s", "higher", label="requests/s"),
        Figure("p50_ms", "ms", "lower", label="p50"),
        Figure("p95_ms", "ms", "lower", label="p95"),
        Figure("wall_s", "s", "lower", label="wall time"),
        Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)"),
    ),
    run=run_concurrent,
    requires=("load",),
)
