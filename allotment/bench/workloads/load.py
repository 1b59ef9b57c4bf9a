"""``load``: create N providers the way upstream's ``placeload`` tool does.

Per provider, one chain of four requests, each only after the previous one
succeeded (as placeload does):

1. ``POST /resource_providers`` with ``uuid`` = ``name``;
2. ``PUT .../inventories``: VCPU 32 (max_unit 16), MEMORY_MB 8192 (min_unit 128),
   DISK_GB 8192 (min_unit 5), each max_unit = total unless said otherwise;
3. ``PUT .../aggregates``: the first 1, 2 or 3 of three fixed aggregates;
4. ``PUT .../traits``: the first 1, 2 or 3 of HW_CPU_X86_AVX2, HW_CPU_X86_SSE2,
   STORAGE_DISK_SSD.

As in placeload the sets are prefixes, so every provider is in aggregate
``14a5c8a3-...`` and has HW_CPU_X86_AVX2: the ``ac`` query matches all of them.
placeload cycles through the three sizes in completion order; here a seeded RNG
picks them (and the provider uuids) up front, so both servers get the same
data. Generations are taken from each response rather than assumed
(placeload hard-codes 0, 1, 2, which only holds from microversion 1.19 on).
``concurrency`` chains run at once, each on its own thread and HTTP client.

Chains that failed (upstream on SQLite answers some writes with 500 "database is
locked") are finished afterwards, outside the timing and outside the figures,
so the workloads that follow query the same N providers on every server.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass

import orjson

from allotment.bench.http import Client, Recorder
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult

__all__ = ["AGGREGATES", "INVENTORIES", "TRAITS", "WORKLOAD", "ProviderPlan", "plan", "run"]

AGGREGATES = (
    "14a5c8a3-5a99-4e8f-88be-00d85fcb1c17",
    "66d98e7c-3c25-485d-a0dc-1cea651884de",
    "a59dbb28-fd98-4c6e-9ec5-ae5f3d04b0aa",
)
TRAITS = ("HW_CPU_X86_AVX2", "HW_CPU_X86_SSE2", "STORAGE_DISK_SSD")
INVENTORIES = {
    "VCPU": {"total": 32, "min_unit": 1, "max_unit": 16},
    "MEMORY_MB": {"total": 8192, "min_unit": 128, "max_unit": 8192},
    "DISK_GB": {"total": 8192, "min_unit": 5, "max_unit": 8192},
}
REQUESTS_PER_PROVIDER = 4


@dataclass(frozen=True)
class ProviderPlan:
    uuid: str
    aggregates: tuple[str, ...]
    traits: tuple[str, ...]


def plan(count: int, seed: int, run_index: int = 0) -> list[ProviderPlan]:
    """The providers to create: the same for the same (seed, run_index), whatever the server."""
    rng = random.Random(f"allotment-bench-load:{seed}:{run_index}")
    out = []
    for _ in range(count):
        uu = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append(ProviderPlan(uu, AGGREGATES[: rng.randint(1, 3)], TRAITS[: rng.randint(1, 3)]))
    return out


def _generation(resp_content: bytes, key: str, fallback: int) -> int:
    try:
        value = orjson.loads(resp_content).get(key)
    except (orjson.JSONDecodeError, AttributeError):
        return fallback
    return value if isinstance(value, int) else fallback


def _create(c: Client, rec: Recorder, p: ProviderPlan) -> bool:
    """Run one provider's chain; True when all four requests succeeded."""
    resp = rec.request(c, "POST", "/resource_providers", {"uuid": p.uuid, "name": p.uuid})
    if resp is None:
        return False
    # Since 1.20 the POST answers with the provider (generation 0); before, 201 and no body.
    return _fill(c, rec, p, _generation(resp.content, "generation", 0) if resp.content else 0)


def _fill(c: Client, rec: Recorder, p: ProviderPlan, gen: int) -> bool:
    """Inventory, aggregates and traits of an existing provider, each step after the previous succeeded."""
    base = f"/resource_providers/{p.uuid}"
    resp = rec.request(c, "PUT", f"{base}/inventories",
                       {"resource_provider_generation": gen, "inventories": INVENTORIES})
    if resp is None:
        return False
    gen = _generation(resp.content, "resource_provider_generation", gen + 1)
    resp = rec.request(c, "PUT", f"{base}/aggregates",
                       {"resource_provider_generation": gen, "aggregates": list(p.aggregates)})
    if resp is None:
        return False
    # From 1.19 on the aggregates PUT bumps and returns the generation.
    gen = _generation(resp.content, "resource_provider_generation", gen)
    resp = rec.request(c, "PUT", f"{base}/traits", {"resource_provider_generation": gen, "traits": list(p.traits)})
    return resp is not None


def _repair(url: str, failed: list[ProviderPlan], attempts: int = 5) -> tuple[int, Recorder]:
    """Finish the chains that failed, one at a time and untimed, so later workloads see all N providers.

    Both servers then hold the same data for ``ac`` even when one of them failed
    some writes. Each step is an idempotent replace, so a chain is simply run again
    from the provider's current generation.
    """
    rec = Recorder()
    repaired = 0
    with Client(url) as c:
        for p in failed:
            for _ in range(attempts):
                resp = rec.request(c, "GET", f"/resource_providers/{p.uuid}")
                if resp is None:
                    ok = _create(c, rec, p)
                else:
                    ok = _fill(c, rec, p, _generation(resp.content, "generation", 0))
                if ok:
                    repaired += 1
                    break
    return repaired, rec


def run(ctx: Context) -> WorkloadResult:
    providers = plan(ctx.params.providers, ctx.params.seed, ctx.run_index)
    rec = Recorder()
    lock = threading.Lock()
    pending = iter(providers)
    failed: list[ProviderPlan] = []

    def worker() -> None:
        with Client(ctx.url) as c:
            while True:
                with lock:
                    p = next(pending, None)
                if p is None:
                    break
                if not _create(c, rec, p):
                    with lock:
                        failed.append(p)

    threads = [threading.Thread(target=worker, name=f"load-{i}") for i in range(max(1, ctx.params.concurrency))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start

    repaired, repair_rec = _repair(ctx.url, failed)
    ctx.state["providers"] = ctx.state.get("providers", 0) + len(providers) - len(failed) + repaired
    return WorkloadResult(
        figures={
            "wall_s": wall,
            "requests_per_s": rec.requests / wall if wall > 0 else None,
            "requests": rec.requests,
            "non_2xx": rec.non_2xx,
            "providers_complete": len(providers) - len(failed),
            "providers_repaired": repaired,
        },
        details={**rec.details(), "providers": len(providers), "concurrency": ctx.params.concurrency,
                 "repair": repair_rec.details()},
    )


WORKLOAD = Workload(
    name="load",
    summary="create N providers like placeload: provider, inventory, 1-3 aggregates, 1-3 traits, concurrently",
    figures=(
        Figure("wall_s", "s", "lower", label="wall time"),
        Figure("requests_per_s", "req/s", "higher", label="requests/s"),
        Figure("requests", "", None, label="requests sent"),
        Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)"),
        Figure("providers_complete", "", None, label="providers complete"),
        Figure("providers_repaired", "", None, label="providers finished after the timed run"),
    ),
    run=run,
)
