"""``claim`` and ``race``: allocation candidates turned into allocations, one at a time and racing.

``claim`` (over the ``load`` providers): ``claims`` (200) times, one after another,
``GET /allocation_candidates?resources=VCPU:1,DISK_GB:10,MEMORY_MB:256&limit=5``
and ``PUT /allocations/{new consumer}`` of the first allocation request, the way
upstream's nested perf job writes its allocations (body at ``placement latest``:
the request's ``allocations`` plus project, user, ``consumer_generation: null``
and ``consumer_type``). A claim is the pair; its p50/p95 and claims/s are the
figures, with the GET and the PUT also timed apart.

``race``: the workload makes its own 5 small providers, in an aggregate of their
own that the candidates query names with ``member_of`` (so providers other
workloads made stay out of it). Together they hold 70 claims; ``race_writers``
(10) writers, started at once, each make ``race_claims`` (50) attempts: get at
most 5 candidates, pick one at random, PUT it. Past the capacity the candidates
list comes back empty ("no candidate"), which is a correct answer, not an error.
Figures: successes, 409 conflicts, 5xx (must be 0), then, after the run, an audit
of every provider: usage within ``(total - reserved) * allocation_ratio`` (an
overcommitted provider must never happen), usages equal to the sum of the
provider's allocations, and the consumers found against the successes counted.

``claim-conc`` (over the ``load`` providers): ``concurrency`` (10) clients make
``conc_requests`` (500) claims between them, each the ``claim`` pair but with
one of the (at most 5) candidates picked at random; a claim refused with a 409
(another client took the room, or changed the provider's generation first) is
tried again from a fresh candidates query, up to ``CONC_ATTEMPTS`` times.
Figures: claims/s, p50/p99 per successful claim (its retries included), 409s,
5xx (must be 0), and the same audit as ``race`` over every provider a claim
named (overcommitted providers and usage mismatches must be 0).

Consumer, project and user ids come from a seeded RNG, so both servers see the
same ids (``race`` writers' random choices depend on timing, so they differ).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from allotment.bench.http import Client, Recorder, Response
from allotment.bench.stats import summarize_latencies
from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.bench.workloads.trees import ProviderSpec, build_trees, seeded_uuid

__all__ = [
    "CLAIM_QUERY",
    "CONSUMER_TYPE",
    "RACE_AGGREGATE",
    "RACE_INVENTORY",
    "RACE_WORKLOAD",
    "CONC_WORKLOAD",
    "WORKLOAD",
    "audit_provider",
    "claim_body",
    "race_providers",
]

RESOURCES = "resources=VCPU:1,DISK_GB:10,MEMORY_MB:256"
CLAIM_AMOUNTS = {"VCPU": 1, "DISK_GB": 10, "MEMORY_MB": 256}
CLAIM_QUERY = f"{RESOURCES}&limit=5"
CONSUMER_TYPE = "INSTANCE"

RACE_PROVIDERS = 5
RACE_AGGREGATE = "5ace0000-7a11-4b0c-9e5d-000000000001"
#: Per provider: VCPU 4 x 4.0 = 16 claims, MEMORY_MB (4096 - 512) / 256 = 14, DISK_GB 200 / 10 = 20; so 14 each.
RACE_INVENTORY: dict[str, dict[str, Any]] = {
    "VCPU": {"total": 4, "allocation_ratio": 4.0},
    "MEMORY_MB": {"total": 4096, "reserved": 512, "min_unit": 128},
    "DISK_GB": {"total": 200},
}
RACE_QUERY = f"{RESOURCES}&member_of={RACE_AGGREGATE}&limit=5"


def claim_body(allocation_request: dict[str, Any], project_id: str, user_id: str) -> dict[str, Any]:
    """The PUT /allocations/{consumer} body (1.38+) claiming one allocation request for a new consumer."""
    return {
        "allocations": {rp: {"resources": dict(a["resources"])}
                        for rp, a in allocation_request["allocations"].items()},
        "project_id": project_id,
        "user_id": user_id,
        "consumer_generation": None,
        "consumer_type": CONSUMER_TYPE,
    }


def _allocation_requests(resp: Response | None) -> list[dict[str, Any]] | None:
    if resp is None or not 200 <= resp.status_code < 300:
        return None
    try:
        reqs = resp.json()["allocation_requests"]
    except (ValueError, KeyError, TypeError):
        return None
    return reqs if isinstance(reqs, list) else None


# --- claim ---------------------------------------------------------------------------------------------------------


def _run_together(target: Any, plans: list[Any], barrier: threading.Barrier, name: str) -> float:
    """One thread per plan, released at once by ``barrier`` (which the caller also waits on); the wall time until all end."""
    threads = [threading.Thread(target=target, args=plan, name=f"{name}-{i}") for i, plan in enumerate(plans)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def run_claim(ctx: Context) -> WorkloadResult:
    rng = random.Random(f"allotment-bench-claim:{ctx.params.seed}:{ctx.run_index}")
    project, user = seeded_uuid(rng), seeded_uuid(rng)
    consumers = [seeded_uuid(rng) for _ in range(ctx.params.claims)]
    rec = Recorder()
    path = f"/allocation_candidates?{CLAIM_QUERY}"
    gets: list[float] = []
    puts: list[float] = []
    pairs: list[float] = []
    no_candidates = 0
    start = time.perf_counter()
    with Client(ctx.url, timeout=ctx.params.timeout) as c:
        for consumer in consumers:
            t0 = time.perf_counter()
            areqs = _allocation_requests(rec.exchange(c, "GET", path))
            t1 = time.perf_counter()
            gets.append(t1 - t0)
            if not areqs:
                no_candidates += areqs is not None
                continue
            resp = rec.request(c, "PUT", f"/allocations/{consumer}", claim_body(areqs[0], project, user))
            t2 = time.perf_counter()
            puts.append(t2 - t1)
            if resp is not None:
                pairs.append(t2 - t0)
    wall = time.perf_counter() - start
    figures: dict[str, float | int | None] = {"wall_s": wall, "claims_per_s": len(pairs) / wall if wall > 0 else None}
    lat = summarize_latencies(pairs) if pairs else {}
    figures["p50_ms"] = lat.get("p50_ms")
    figures["p95_ms"] = lat.get("p95_ms")
    figures["get.p50_ms"] = summarize_latencies(gets)["p50_ms"] if gets else None
    figures["put.p50_ms"] = summarize_latencies(puts)["p50_ms"] if puts else None
    figures["claims_ok"] = len(pairs)
    figures["no_candidates"] = no_candidates
    figures["non_2xx"] = rec.non_2xx
    ctx.state["claims"] = ctx.state.get("claims", 0) + len(pairs)
    return WorkloadResult(figures=figures, details={**rec.details(), "query": CLAIM_QUERY, "claims": len(consumers),
                                                    "claim_latency": lat, "consumer_type": CONSUMER_TYPE})


# --- claim-conc ----------------------------------------------------------------------------------------------------

CONC_ATTEMPTS = 10  # tries per claim (a 409 sends the client back to the candidates query)


def run_claim_conc(ctx: Context) -> WorkloadResult:
    p = ctx.params
    rng = random.Random(f"allotment-bench-claim-conc:{p.seed}:{ctx.run_index}")
    project, user = seeded_uuid(rng), seeded_uuid(rng)
    total = p.conc_requests
    per_client = [total // p.concurrency + (1 if i < total % p.concurrency else 0) for i in range(p.concurrency)]
    plans = [([seeded_uuid(rng) for _ in range(n)], random.Random(rng.getrandbits(64))) for n in per_client]
    rec = Recorder()
    path = f"/allocation_candidates?{CLAIM_QUERY}"
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    touched: set[str] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(p.concurrency + 1)

    def client(consumers: list[str], choice: random.Random) -> None:
        tally: Counter[str] = Counter()
        lat: list[float] = []
        named: set[str] = set()
        with Client(ctx.url, timeout=p.timeout) as c:
            barrier.wait()
            for consumer in consumers:
                t0 = time.perf_counter()
                for _ in range(CONC_ATTEMPTS):
                    resp = rec.exchange(c, "GET", path)
                    areqs = _allocation_requests(resp)
                    if not areqs:
                        tally["5xx" if resp is not None and resp.status_code >= 500 else
                              "no_candidates" if areqs is not None else "get_other"] += 1
                        break
                    areq = choice.choice(areqs)
                    named.update(areq["allocations"])
                    resp = rec.exchange(c, "PUT", f"/allocations/{consumer}", claim_body(areq, project, user))
                    if resp is not None and 200 <= resp.status_code < 300:
                        tally["ok"] += 1
                        lat.append(time.perf_counter() - t0)
                        break
                    if resp is not None and resp.status_code == 409:
                        tally["409"] += 1
                        continue
                    tally["5xx" if resp is not None and resp.status_code >= 500 else "put_other"] += 1
                    break
                else:
                    tally["gave_up"] += 1
        with lock:
            outcomes.update(tally)
            latencies.extend(lat)
            touched.update(named)

    wall = _run_together(client, plans, barrier, "claim-conc")
    audit, audit_rec = _audit(ctx.url, [ProviderSpec(uuid=u, name=u) for u in sorted(touched)], p.timeout)
    lat_summary = summarize_latencies(latencies) if latencies else {}
    ctx.state["claims"] = ctx.state.get("claims", 0) + outcomes["ok"]
    return WorkloadResult(
        figures={
            "wall_s": wall,
            "claims_per_s": outcomes["ok"] / wall if wall > 0 else None,
            "p50_ms": lat_summary.get("p50_ms"),
            "p99_ms": lat_summary.get("p99_ms"),
            "claims_ok": outcomes["ok"],
            "conflicts_409": outcomes["409"],
            "server_5xx": outcomes["5xx"],
            "other_failures": outcomes["get_other"] + outcomes["put_other"] + outcomes["gave_up"],
            "no_candidates": outcomes["no_candidates"],
            "overcommitted_providers": len(audit["overcommitted"]),
            "usage_mismatches": len(audit["usage_mismatch"]) + len(audit["unreadable"]),
        },
        details={**rec.details(), "outcomes": dict(outcomes), "audit": audit, "audit_requests": audit_rec.details(),
                 "query": CLAIM_QUERY, "clients": p.concurrency, "claims": total, "attempts": CONC_ATTEMPTS,
                 "claim_latency": lat_summary},
    )


# --- race ----------------------------------------------------------------------------------------------------------


def race_providers(seed: int, run_index: int = 0) -> list[ProviderSpec]:
    rng = random.Random(f"allotment-bench-race:{seed}:{run_index}")
    out = []
    for i in range(RACE_PROVIDERS):
        uu = seeded_uuid(rng)
        out.append(ProviderSpec(uuid=uu, name=f"race-{i}-{uu}", inventories=RACE_INVENTORY,
                                aggregates=(RACE_AGGREGATE,)))
    return out


def _capacity(inv: dict[str, Any]) -> float:
    return (inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1.0)


def claims_that_fit(inventories: dict[str, dict[str, Any]], usages: dict[str, int],
                    amounts: dict[str, int] = CLAIM_AMOUNTS) -> int:
    """How many more claims of ``amounts`` the provider still holds."""
    fits = []
    for rc, amount in amounts.items():
        inv = inventories.get(rc)
        if inv is None:
            return 0
        fits.append(max(0, int((_capacity(inv) - usages.get(rc, 0)) // amount)))
    return min(fits)


@dataclass(frozen=True)
class ProviderAudit:
    overcommitted: tuple[str, ...]  # classes whose usage exceeds the capacity
    usage_matches_allocations: bool
    consumers: frozenset[str]
    free_claims: int


def audit_provider(inventories: dict[str, dict[str, Any]], usages: dict[str, int],
                   allocations: dict[str, dict[str, Any]]) -> ProviderAudit:
    """Check one provider after a race.

    ``inventories``, ``usages`` and ``allocations`` are the ``inventories``,
    ``usages`` and ``allocations`` members of the provider's GET answers.
    """
    over = tuple(sorted(rc for rc, used in usages.items()
                        if used > 0 and (rc not in inventories or used > _capacity(inventories[rc]))))
    summed: Counter[str] = Counter()
    for alloc in allocations.values():
        summed.update(alloc.get("resources", {}))
    matches = {rc: n for rc, n in summed.items() if n} == {rc: n for rc, n in usages.items() if n}
    return ProviderAudit(over, matches, frozenset(allocations), claims_that_fit(inventories, usages))


def _audit(url: str, providers: list[ProviderSpec], timeout: float) -> tuple[dict[str, Any], Recorder]:
    rec = Recorder()
    found: set[str] = set()
    over: dict[str, list[str]] = {}
    mismatched: list[str] = []
    unreadable: list[str] = []
    free = 0
    usage_total: Counter[str] = Counter()
    with Client(url, timeout=timeout) as c:
        for p in providers:
            base = f"/resource_providers/{p.uuid}"
            inv, use, allocs = (rec.request(c, "GET", f"{base}/{what}") for what in
                                ("inventories", "usages", "allocations"))
            if inv is None or use is None or allocs is None:
                unreadable.append(p.uuid)
                continue
            usages = use.json()["usages"]
            a = audit_provider(inv.json()["inventories"], usages, allocs.json()["allocations"])
            usage_total.update(usages)
            found |= a.consumers
            free += a.free_claims
            if a.overcommitted:
                over[p.uuid] = list(a.overcommitted)
            if not a.usage_matches_allocations:
                mismatched.append(p.uuid)
    return {"overcommitted": over, "usage_mismatch": mismatched, "unreadable": unreadable, "consumers": len(found),
            "free_claims": free, "usages": dict(usage_total)}, rec


def run_race(ctx: Context) -> WorkloadResult:
    p = ctx.params
    providers = race_providers(p.seed, ctx.run_index)
    setup = build_trees(ctx.url, [[spec] for spec in providers], concurrency=1, timeout=p.timeout)
    rng = random.Random(f"allotment-bench-race-consumers:{p.seed}:{ctx.run_index}")
    project, user = seeded_uuid(rng), seeded_uuid(rng)
    plans = [([seeded_uuid(rng) for _ in range(p.race_claims)], random.Random(rng.getrandbits(64)))
             for _ in range(p.race_writers)]
    rec = Recorder()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(p.race_writers + 1)
    path = f"/allocation_candidates?{RACE_QUERY}"

    def writer(consumers: list[str], choice: random.Random) -> None:
        tally: Counter[str] = Counter()
        with Client(ctx.url, timeout=p.timeout) as c:
            barrier.wait()
            for consumer in consumers:
                resp = rec.exchange(c, "GET", path)
                areqs = _allocation_requests(resp)
                if areqs is None:
                    tally["5xx" if resp is not None and resp.status_code >= 500 else "get_other"] += 1
                    continue
                if not areqs:
                    tally["no_candidates"] += 1
                    continue
                resp = rec.exchange(c, "PUT", f"/allocations/{consumer}",
                                    claim_body(choice.choice(areqs), project, user))
                if resp is None:
                    tally["put_transport"] += 1
                elif 200 <= resp.status_code < 300:
                    tally["ok"] += 1
                elif resp.status_code == 409:
                    tally["409"] += 1
                elif resp.status_code >= 500:
                    tally["5xx"] += 1
                else:
                    tally["put_other"] += 1
        with lock:
            outcomes.update(tally)

    wall = _run_together(writer, plans, barrier, "race")
    audit, audit_rec = _audit(ctx.url, providers, p.timeout)
    attempts = p.race_writers * p.race_claims
    return WorkloadResult(
        figures={
            "wall_s": wall,
            "attempts_per_s": attempts / wall if wall > 0 else None,
            "successes": outcomes["ok"],
            "conflicts_409": outcomes["409"],
            "server_5xx": outcomes["5xx"],
            "no_candidates": outcomes["no_candidates"],
            "other_failures": outcomes["get_other"] + outcomes["put_transport"] + outcomes["put_other"],
            "overcommitted_providers": len(audit["overcommitted"]),
            "usage_mismatches": len(audit["usage_mismatch"]) + len(audit["unreadable"]),
            "consumers_found": audit["consumers"],
            "free_claims_left": audit["free_claims"],
        },
        details={**rec.details(), "outcomes": dict(outcomes), "audit": audit, "audit_requests": audit_rec.details(),
                 "setup": setup.details(), "query": RACE_QUERY, "writers": p.race_writers,
                 "claims_per_writer": p.race_claims, "capacity_claims": RACE_PROVIDERS * claims_that_fit(
                     RACE_INVENTORY, {})},
    )


WORKLOAD = Workload(
    name="claim",
    summary="sequential claims: candidates (limit=5), PUT the first allocation request; p50/p95 per claim",
    figures=(
        Figure("p50_ms", "ms", "lower", label="p50 per claim (GET + PUT)"),
        Figure("p95_ms", "ms", "lower", label="p95 per claim"),
        Figure("claims_per_s", "claims/s", "higher", label="claims/s"),
        Figure("get.p50_ms", "ms", "lower", label="candidates GET p50"),
        Figure("put.p50_ms", "ms", "lower", label="allocations PUT p50"),
        Figure("wall_s", "s", "lower", label="wall time"),
        Figure("claims_ok", "", None, label="claims made", show=True),
        Figure("no_candidates", "", None, agg="sum", label="empty candidate lists"),
        Figure("non_2xx", "", None, agg="sum", label="non-2xx (must be 0)"),
    ),
    run=run_claim,
    requires=("load",),
)

CONC_WORKLOAD = Workload(
    name="claim-conc",
    summary="claims from `concurrency` clients (500 between them), random pick of 5, 409 retried; no 5xx/overcommit",
    figures=(
        Figure("claims_per_s", "claims/s", "higher", label="claims/s"),
        Figure("p50_ms", "ms", "lower", label="p50 per claim (retries included)"),
        Figure("p99_ms", "ms", "lower", label="p99 per claim"),
        Figure("wall_s", "s", "lower", label="wall time"),
        Figure("claims_ok", "", None, label="claims made", show=True),
        Figure("conflicts_409", "", None, agg="sum", label="409 conflicts (retried)", show=True),
        Figure("server_5xx", "", None, agg="sum", label="5xx (must be 0)", show=True),
        Figure("other_failures", "", None, agg="sum", label="other failures", show=True),
        Figure("no_candidates", "", None, agg="sum", label="empty candidate lists"),
        Figure("overcommitted_providers", "", None, agg="sum", label="overcommitted providers (must be 0)",
               show=True),
        Figure("usage_mismatches", "", None, agg="sum", label="usages != sum of allocations (must be 0)",
               show=True),
    ),
    run=run_claim_conc,
    requires=("load",),
)

RACE_WORKLOAD = Workload(
    name="race",
    summary="concurrent writers claim on 5 small providers; 409s counted, no 5xx, no overcommit",
    figures=(
        Figure("wall_s", "s", "lower", label="wall time"),
        Figure("attempts_per_s", "attempts/s", "higher", label="claim attempts/s"),
        Figure("successes", "", None, label="successful claims", show=True),
        Figure("conflicts_409", "", None, label="409 conflicts", show=True),
        Figure("no_candidates", "", None, label="empty candidate lists (providers full)", show=True),
        Figure("server_5xx", "", None, agg="sum", label="5xx (must be 0)", show=True),
        Figure("other_failures", "", None, agg="sum", label="other failures", show=True),
        Figure("overcommitted_providers", "", None, agg="sum", label="overcommitted providers (must be 0)",
               show=True),
        Figure("usage_mismatches", "", None, agg="sum", label="usages != sum of allocations (must be 0)",
               show=True),
        Figure("consumers_found", "", None, label="consumers holding allocations", show=True),
        Figure("free_claims_left", "", None, label="claims still free at the end", show=True),
    ),
    run=run_race,
)
