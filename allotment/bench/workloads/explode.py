"""``explode``: one wide compute node where granular requests multiply into many candidates.

The tree (setup, untimed)::

    compute node         DISK_GB 2048
    +- numa0 .. numa3    VCPU 16, MEMORY_MB 32768; HW_NUMA_ROOT
    +- gpu0 .. gpu7      VGPU 4 each (identical)

Each variant of :data:`VARIANTS` asks for VGPUs in separate single-VGPU groups
with ``group_policy=isolate``, so every ordered choice of distinct GPUs is a
candidate of its own (the mappings differ): 8!/(8-k)! candidates for k groups,
out of 8^k combinations a naive generator walks through (upstream 16.0.0 walks
the full product per root; see its ``max_allocation_candidates`` option). With
``limit=10`` the answer must hold at most 10 candidates. The ``vgpuK_none_first1000``
variants (K = 1..6) let the groups share GPUs (``group_policy=none``: up to
8^6 = 262,144 ordered choices) and ask for the first 1,000; their p99 is a figure
(run with ``--explode-requests 20`` or more for a tail worth the name).

Variants with more than ``explode_max_groups`` (8) groups are left out (the
smoke test's way to stay quick). Each variant is sent ``explode_requests`` (3) times, each on a new connection
with a client timeout of ``timeout`` (120 s), and stops after the first failure.
Figures per variant: the median time of the answered requests, the candidate
count, and the peak RSS of the server (process + workers) sampled every 50 ms
while the variant's requests ran (``failed_peak_rss_mb`` instead when a request
of the variant failed, so a server that gave up early gets no memory ratio). A
digest of each full answer without ``limit`` (allocations and mappings, order-free)
lets the result document compare the two servers candidate by candidate. A request that times out, or whose
connection the server drops (gunicorn kills a worker that is silent past its
own timeout: 30 s by default, as upstream is served here; allotment's is 120 s),
is a figure too: the failures and the seconds until the first one.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from typing import Any

from allotment.bench.http import TRANSPORT_ERRORS, Client
from allotment.bench.procstat import ProcessSampler, descendants, read_memory_kb
from allotment.bench.stats import median, percentile
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.nested import answer_digest
from allotment.bench.workloads.trees import ProviderSpec, build_trees, seeded_uuid

__all__ = ["GPUS", "NUMA_NODES", "VARIANTS", "WORKLOAD", "expected", "plan", "vgpu_groups"]

NUMA_NODES = 4
GPUS = 8
LIMIT = 10


def plan(seed: int, run_index: int = 0) -> list[ProviderSpec]:
    rng = random.Random(f"allotment-bench-explode:{seed}:{run_index}")
    root = seeded_uuid(rng)
    out = [ProviderSpec(root, f"explode-cn-{root}", inventories={"DISK_GB": {"total": 2048}})]
    for i in range(NUMA_NODES):
        uu = seeded_uuid(rng)
        out.append(ProviderSpec(uu, f"numa{i}-{uu}", root,
                                {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 32768}}, ("HW_NUMA_ROOT",)))
    for i in range(GPUS):
        uu = seeded_uuid(rng)
        out.append(ProviderSpec(uu, f"gpu{i}-{uu}", root, {"VGPU": {"total": 4}}))
    return out


def vgpu_groups(k: int, policy: str = "isolate") -> str:
    return "&".join(f"resources{i}=VGPU:1" for i in range(1, k + 1)) + f"&group_policy={policy}"


FIRST = 1000  # the first candidates the `group_policy=none` variants ask for
VGPU_PER_GPU = 4


NUMA_GROUP = "resources_NUMA=VCPU:2,MEMORY_MB:2048&required_NUMA=HW_NUMA_ROOT"

# name -> (query, groups of VGPU, NUMA group too, limit)
VARIANTS: dict[str, tuple[str, int, bool, int | None]] = {
    "vgpu4": (vgpu_groups(4), 4, False, None),
    "vgpu4_limit10": (f"{vgpu_groups(4)}&limit={LIMIT}", 4, False, LIMIT),
    "numa_vgpu4": (f"{NUMA_GROUP}&{vgpu_groups(4)}", 4, True, None),
    "vgpu8_limit10": (f"{vgpu_groups(8)}&limit={LIMIT}", 8, False, LIMIT),
    "vgpu8": (vgpu_groups(8), 8, False, None),
    # The same GPUs shared between groups (group_policy=none): 8^k ordered choices (262,144 with 6 groups, less the
    # few that put more than 4 VGPUs on one GPU); the first 1,000 must come back fast however many there are.
    **{f"vgpu{k}_none_first{FIRST}": (f"{vgpu_groups(k, 'none')}&limit={FIRST}", k, False, FIRST) for k in range(1, 7)},
}


def expected(k: int, numa: bool = False, limit: int | None = None, isolate: bool = True) -> int:
    """Candidates for k single-VGPU groups over the GPUs (times the NUMA nodes), capped by limit.

    Isolated: ordered choices of k distinct GPUs. Not isolated: every GPU sequence of length k that puts at most
    ``VGPU_PER_GPU`` groups on one GPU (all of 8^k but those with 5 or more on one GPU, for k < 10).
    """
    if isolate:
        n = math.perm(GPUS, k)
    else:
        n = GPUS**k - GPUS * sum(math.comb(k, j) * (GPUS - 1) ** (k - j) for j in range(VGPU_PER_GPU + 1, k + 1))
    n *= NUMA_NODES if numa else 1
    return n if limit is None else min(n, limit)


def _server_rss_mb(root: int | None) -> float | None:
    if root is None:
        return None
    return round(sum(read_memory_kb(pid, pss=False).get("VmRSS", 0) for pid in descendants(root)) / 1024.0, 1)


def _one(ctx: Context, path: str) -> dict[str, Any]:
    """One request on a new connection (so a failure is not retried): outcome, seconds, candidates, bytes."""
    start = time.perf_counter()
    try:
        with Client(ctx.url, timeout=ctx.params.timeout) as c:
            resp = c.get(path)
    except TimeoutError:
        return {"outcome": "timeout", "s": time.perf_counter() - start}
    except TRANSPORT_ERRORS as exc:
        return {"outcome": "disconnected", "s": time.perf_counter() - start, "error": f"{type(exc).__name__}: {exc}"}
    elapsed = time.perf_counter() - start
    if not 200 <= resp.status_code < 300:
        return {"outcome": f"http {resp.status_code}", "s": elapsed, "error": resp.text[:600]}
    try:
        body = resp.json()
        count = len(body["allocation_requests"])
        digest = answer_digest(body) if "limit=" not in path else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return {"outcome": "bad body", "s": elapsed, "error": f"{type(exc).__name__}: {exc}"}
    return {"outcome": "ok", "s": elapsed, "candidates": count, "bytes": len(resp.content), "digest": digest}


def run(ctx: Context) -> WorkloadResult:
    setup = build_trees(ctx.url, [plan(ctx.params.seed, ctx.run_index)], 1, ctx.params.timeout)
    figures: dict[str, float | int | None] = {}
    details: dict[str, Any] = {"setup": setup.details(), "digests": {}}
    failures_total = 0
    limit_violations = 0
    wrong = 0
    variants = {name: v for name, v in VARIANTS.items() if v[1] <= ctx.params.explode_max_groups}
    for name, (query, k, numa, limit) in variants.items():
        path = f"/allocation_candidates?{query}"
        attempts: list[dict[str, Any]] = []
        rss_before = _server_rss_mb(ctx.server_pid)
        sampler = ProcessSampler(ctx.server_pid, interval=0.05, slow_every=1.0).start() \
            if ctx.server_pid is not None else None
        for _ in range(ctx.params.explode_requests):
            attempt = _one(ctx, path)
            attempts.append(attempt)
            if attempt["outcome"] != "ok":
                break
        mem = sampler.stop() if sampler is not None else {}
        ok = [a for a in attempts if a["outcome"] == "ok"]
        failed = [a for a in attempts if a["outcome"] != "ok"]
        counts = {a["candidates"] for a in ok}
        count = next(iter(counts)) if len(counts) == 1 else None
        digests = {a["digest"] for a in ok if a.get("digest")}
        if len(digests) == 1:
            details["digests"][name] = next(iter(digests))  # compared with the other server's in the document
        want = expected(k, numa, limit, isolate="group_policy=isolate" in query)
        figures[f"{name}.time_s"] = median([a["s"] for a in ok]) if ok else None
        figures[f"{name}.p99_ms"] = percentile([a["s"] * 1000 for a in ok], 99.0) if ok else None
        figures[f"{name}.candidates"] = count
        # Memory of an answered variant gets a ratio; that of a failed one (the server gave up) is only noted.
        figures[f"{name}.peak_rss_mb" if ok and not failed else f"{name}.failed_peak_rss_mb"] = \
            mem.get("peak_rss_total_mb")
        figures[f"{name}.failures"] = len(failed)
        figures[f"{name}.failed_after_s"] = failed[0]["s"] if failed else None
        failures_total += len(failed)
        if limit is not None:
            limit_violations += sum(a["candidates"] > limit for a in ok)
        wrong += bool(ok) and count != want
        details[name] = {"query": query, "expected": want, "rss_before_mb": rss_before, "memory": mem,
                         "attempts": attempts}
    figures["non_2xx"] = failures_total
    details["status_counts"] = dict(sorted(Counter(a["outcome"] for name in variants
                                                   for a in details[name]["attempts"]).items()))
    details["errors"] = [{"method": "GET", "path": f"/allocation_candidates?{details[name]['query']}",
                          "status": a["outcome"], "body": f"after {a['s']:.1f} s: {a.get('error', '')}"}
                         for name in variants for a in details[name]["attempts"] if a["outcome"] != "ok"]
    figures["limit_violations"] = limit_violations
    figures["unexpected_counts"] = wrong
    return WorkloadResult(figures=figures, details=details)


def _figures() -> tuple[Figure, ...]:
    out: list[Figure] = []
    for name in VARIANTS:
        out += [
            Figure(f"{name}.time_s", "s", "lower", label=f"{name} time"),
            Figure(f"{name}.p99_ms", "ms", "lower", label=f"{name} p99"),
            Figure(f"{name}.candidates", "", None, label=f"{name} candidates"),
            Figure(f"{name}.peak_rss_mb", "MB", "lower", label=f"{name} server peak RSS"),
            Figure(f"{name}.failed_peak_rss_mb", "MB", None, label=f"{name} server peak RSS until it failed",
                   show=True),
            Figure(f"{name}.failures", "", None, agg="sum", label=f"{name} failed requests", show=True),
            Figure(f"{name}.failed_after_s", "s", None, label=f"{name} seconds to first failure", show=True),
        ]
    return (
        *out,
        Figure("non_2xx", "", None, agg="sum", label="requests timed out, dropped or non-2xx"),
        Figure("limit_violations", "", None, agg="sum", label="answers longer than limit (must be 0)", show=True),
        Figure("unexpected_counts", "", None, agg="sum", label="variants whose count differs from the topology's",
               show=True),
    )


WORKLOAD = Workload(
    name="explode",
    summary="one node, 4 NUMA nodes and 8 GPU children; isolated VGPU groups with and without limit; "
            "time, memory, limit honoured",
    figures=_figures(),
    run=run,
)
