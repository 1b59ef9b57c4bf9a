"""``nested``: K compute trees shaped like upstream's nested perf topology, and granular queries over them.

Each tree is upstream's ``gate/gabbits/nested-perfload.yaml`` (7 providers)::

    compute node        DISK_GB 20480; COMPUTE_VOLUME_MULTI_ATTACH
    +- numa0            VCPU 4 (2 reserved), MEMORY_MB 2048 (min_unit 512, step_size 256); HW_NUMA_ROOT
    |  +- fpga0_0       FPGA 1
    |  +- pgpu0_0       VGPU 8; HW_GPU_API_VULKAN (added here, so a group can require a trait on a leaf)
    +- numa1            VCPU 4, MEMORY_MB 2048 (min_unit 256, max_unit 1024); HW_NUMA_ROOT, CUSTOM_FOO
       +- fpga1_0       FPGA 1
       +- fpga1_1       FPGA 1

and every tenth root (trees 0, 10, 20, ...) also has CUSTOM_BAR, which one
query forbids with ``root_required``. Trees are created ``concurrency`` at a
time (setup, untimed, retried until complete).

Each query of :data:`QUERIES` is then sent ``requests`` (20) times; the figures
are its p50 and the number of candidates. Since both servers hold the same
trees (seeded uuids), their answers must be the same: the counts are compared
with the number :func:`expected` works out from the topology, and a digest of
each full answer (allocations and mappings, order-free) lets the result document
compare the two servers candidate by candidate.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from allotment.bench.http import Client, Recorder, Response
from allotment.bench.stats import summarize_latencies
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.trees import ProviderSpec, build_trees, seeded_uuid

__all__ = ["QUERIES", "WORKLOAD", "answer_digest", "bar_trees", "expected", "nested_tree", "plan"]

ROOT_TRAIT = "COMPUTE_VOLUME_MULTI_ATTACH"
BAR_EVERY = 10


def nested_tree(rng: random.Random, index: int) -> list[ProviderSpec]:
    """One tree, parents first."""
    cn, n0, n1, f00, p00, f10, f11 = (seeded_uuid(rng) for _ in range(7))
    root_traits = (ROOT_TRAIT, "CUSTOM_BAR") if index % BAR_EVERY == 0 else (ROOT_TRAIT,)
    return [
        ProviderSpec(cn, cn, inventories={"DISK_GB": {"total": 20480}}, traits=root_traits),
        ProviderSpec(n0, f"numa 0-{n0}", cn,
                     {"VCPU": {"total": 4, "reserved": 2},
                      "MEMORY_MB": {"total": 2048, "min_unit": 512, "step_size": 256}},
                     ("HW_NUMA_ROOT",)),
        ProviderSpec(f00, f"fpga0-0-{f00}", n0, {"FPGA": {"total": 1}}),
        ProviderSpec(p00, f"pgpu0-0-{p00}", n0, {"VGPU": {"total": 8}}, ("HW_GPU_API_VULKAN",)),
        ProviderSpec(n1, f"numa 1-{n1}", cn,
                     {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 2048, "min_unit": 256, "max_unit": 1024}},
                     ("HW_NUMA_ROOT", "CUSTOM_FOO")),
        ProviderSpec(f10, f"fpga1-0-{f10}", n1, {"FPGA": {"total": 1}}),
        ProviderSpec(f11, f"fpga1-1-{f11}", n1, {"FPGA": {"total": 1}}),
    ]


def plan(trees: int, seed: int, run_index: int = 0) -> list[list[ProviderSpec]]:
    rng = random.Random(f"allotment-bench-nested:{seed}:{run_index}")
    return [nested_tree(rng, i) for i in range(trees)]


def bar_trees(k: int) -> int:
    """How many of ``k`` trees have CUSTOM_BAR on their root."""
    return (k + BAR_EVERY - 1) // BAR_EVERY


PERF_QUERY = (
    "resources=DISK_GB:10&required=COMPUTE_VOLUME_MULTI_ATTACH"
    "&resources_COMPUTE=VCPU:1,MEMORY_MB:256&required_COMPUTE=CUSTOM_FOO"
    "&resources_FPGA=FPGA:1&group_policy=none&same_subtree=_COMPUTE,_FPGA"
)

# name -> (query, expected number of candidates for K trees)
QUERIES: dict[str, tuple[str, Callable[[int], int]]] = {
    # Upstream's nested perf job query: numa1 (CUSTOM_FOO) with one of its two FPGAs.
    "perf": (PERF_QUERY, lambda k: 2 * k),
    # The same, as the perf job's allocation writes send it.
    "perf_limit5": (f"{PERF_QUERY}&limit=5", lambda k: min(5, 2 * k)),
    # A NUMA node with 2 free VCPUs (numa0 only, 2 reserved of 4) and the VGPU below it.
    "numa_vgpu": (
        (
            "resources_COMPUTE=VCPU:2,MEMORY_MB:1024&required_COMPUTE=HW_NUMA_ROOT"
            "&resources_GPU=VGPU:1&required_GPU=HW_GPU_API_VULKAN&same_subtree=_COMPUTE,_GPU"
            f"&group_policy=isolate&root_required={ROOT_TRAIT}"
        ),
        lambda k: k,
    ),
    # Two FPGAs under one NUMA node (numa1, in either group order).
    "two_fpga": (
        (
            "resources_NUMA=VCPU:1&resources_ACC1=FPGA:1&resources_ACC2=FPGA:1"
            "&same_subtree=_NUMA,_ACC1,_ACC2&group_policy=isolate"
        ),
        lambda k: 2 * k,
    ),
    # A NUMA node without CUSTOM_FOO (numa0) with its FPGA, on roots without CUSTOM_BAR.
    # (Numbered groups' suffixes are "1", "2": same_subtree=1,2.)
    "root_forbidden": (
        (
            "resources=DISK_GB:10&resources1=VCPU:1&required1=!CUSTOM_FOO&resources2=FPGA:1"
            f"&same_subtree=1,2&group_policy=none&root_required={ROOT_TRAIT},!CUSTOM_BAR"
        ),
        lambda k: k - bar_trees(k),
    ),
    # The unsuffixed group spread over a tree: 2 NUMA nodes x 1 VGPU x 3 FPGAs.
    "spread": ("resources=VCPU:1,VGPU:1,FPGA:1", lambda k: 6 * k),
}


def expected(name: str, trees: int) -> int:
    return QUERIES[name][1](trees)


def answer_digest(body: dict[str, Any]) -> str:
    """A digest of the allocation requests (allocations and mappings), independent of their order."""
    canon = []
    for areq in body["allocation_requests"]:
        allocs = sorted((rp, rc, n) for rp, a in areq["allocations"].items() for rc, n in a["resources"].items())
        mappings = sorted((suffix, sorted(rps)) for suffix, rps in (areq.get("mappings") or {}).items())
        canon.append(orjson.dumps([allocs, mappings]))
    canon.sort()
    return hashlib.sha256(b"\n".join(canon)).hexdigest()[:16]


def _parse(resp: Response | None) -> dict[str, Any] | None:
    if resp is None:
        return None
    try:
        body = resp.json()
        len(body["allocation_requests"])
    except (ValueError, KeyError, TypeError):
        return None
    return body


def run_queries(ctx: Context, queries: dict[str, tuple[str, Callable[[int], int]]], trees: int,
                ) -> tuple[dict[str, float | int | None], dict[str, Any], Recorder]:
    """Send each query ``requests`` times: figures ``{name}.p50_ms`` and ``{name}.candidates``, and details."""
    rec = Recorder()
    figures: dict[str, float | int | None] = {}
    details: dict[str, Any] = {"digests": {}}
    wrong = 0
    with Client(ctx.url, timeout=ctx.params.timeout) as c:
        for name, (query, expect) in queries.items():
            durations = []
            counts: set[int] = set()
            digests: set[str] = set()
            for _ in range(ctx.params.requests):
                start = time.perf_counter()
                body = _parse(rec.request(c, "GET", f"/allocation_candidates?{query}"))
                durations.append(time.perf_counter() - start)
                if body is not None:
                    counts.add(len(body["allocation_requests"]))
                    if "limit=" not in query:
                        digests.add(answer_digest(body))
            lat = summarize_latencies(durations)
            count = next(iter(counts)) if len(counts) == 1 else None
            figures[f"{name}.p50_ms"] = lat["p50_ms"]
            figures[f"{name}.candidates"] = count
            want = expect(trees)
            if count != want:
                wrong += 1
            if len(digests) == 1:
                details["digests"][name] = next(iter(digests))
            details[name] = {"query": query, **lat, "expected": want, "candidate_counts_seen": sorted(counts),
                             "digests_seen": len(digests)}
    figures["unexpected_counts"] = wrong
    return figures, details, rec


def run(ctx: Context) -> WorkloadResult:
    k = ctx.params.trees
    setup = build_trees(ctx.url, plan(k, ctx.params.seed, ctx.run_index), ctx.params.concurrency, ctx.params.timeout)
    figures, details, rec = run_queries(ctx, QUERIES, k)
    figures["non_2xx"] = rec.non_2xx
    figures["setup_s"] = setup.wall_s
    figures["setup_failed_providers"] = len(setup.failed)
    return WorkloadResult(figures=figures, details={**details, **rec.details(), "trees": k,
                                                    "providers": setup.providers, "setup": setup.details()})


def _figures() -> tuple[Figure, ...]:
    out: list[Figure] = []
    for name in QUERIES:
        out += [Figure(f"{name}.p50_ms", "ms", "lower", label=f"{name} p50"),
                Figure(f"{name}.candidates", "", None, label=f"{name} candidates")]
    return (
        *out,
        Figure("unexpected_counts", "", None, agg="sum", label="queries whose count differs from the topology's",
               show=True),
        Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)"),
        Figure("setup_s", "s", "lower", label="creating the trees (setup, retried)"),
        Figure("setup_failed_providers", "", None, agg="sum", label="providers setup could not create"),
    )


WORKLOAD = Workload(
    name="nested",
    summary="K NUMA/FPGA/VGPU compute trees (upstream's nested perf topology); granular, same_subtree and "
            "root_required queries",
    figures=_figures(),
    run=run,
)
