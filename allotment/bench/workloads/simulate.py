"""``simulate``: the fleet simulator's speed, in simulated placements per second of wall time (allotment only).

Upstream has no simulator, so this workload runs against the allotment target alone.
It plays one synthetic workload (``--arrivals`` instances, Poisson at 1 per simulated
second, lognormal lifetimes of median 8 h, the default flavor mix, from ``--seed``) on
H = ``--providers`` hosts twice with Nova's default weighers (``spread``):

- ``http``: against the runner's ``allotment serve`` over HTTP (the served database
  must be empty; the run deletes its hosts at the end), the way ``allotment simulate
  --url`` runs;
- ``inprocess``: against placement in the benchmark process (the direct client on a
  fresh SQLite file), the way ``allotment simulate`` runs by default.

Each reports ``placements_per_s`` (instances placed per second of the event loop's wall
time: scheduling, claims, departures' deletes and sampling), the p50 and p99 of a
``select_destinations`` call, and the time to create the hosts. Both runs verify
placement's usages against the simulator's ledger at the end: ``usage_mismatches``
must be 0.
"""

from __future__ import annotations

import random
from typing import Any

from allotment.bench.workloads.base import Context, Figure, Workload, WorkloadResult
from allotment.simulator.configs import parse_config
from allotment.simulator.fleet import FleetSpec
from allotment.simulator.runner import Plan, run_plan
from allotment.simulator.workload import DEFAULT_FLAVORS, parse_lifetime, synthetic

__all__ = ["LIFETIME", "MODES", "RATE", "WORKLOAD", "plan", "run"]

RATE = 1.0  # arrivals per simulated second
LIFETIME = "lognormal:28800:1.0"
MODES = ("http", "inprocess")
_SUMMARY = ("placements_per_s", "schedule_p50_ms", "schedule_p99_ms", "setup_s", "wall_s", "placed", "refused")


def plan(hosts: int, arrivals: int, seed: int, url: str | None) -> Plan:
    """The simulation both modes run: same fleet, flavors, arrivals and configuration."""
    mix = list(DEFAULT_FLAVORS)
    lifetime = parse_lifetime(LIFETIME)
    workload = synthetic(arrivals, RATE, lifetime, mix, random.Random(f"allotment-bench-simulate:{seed}"))
    return Plan(FleetSpec(hosts), mix, workload,
                {"kind": "synthetic", "arrivals": arrivals, "rate_per_s": RATE, "lifetime": LIFETIME},
                [parse_config("spread")], seed=seed, url=url, verify=True)


def run(ctx: Context) -> WorkloadResult:
    p = ctx.params
    figures: dict[str, Any] = {}
    details: dict[str, Any] = {"hosts": p.providers, "arrivals": p.arrivals, "lifetime": LIFETIME,
                               "rate_per_s": RATE, "config": "spread"}
    for mode in MODES:
        doc = run_plan(plan(p.providers, p.arrivals, p.seed, ctx.url if mode == "http" else None))
        sim = doc["runs"][0]
        summary = sim["summary"]
        for key in _SUMMARY:
            figures[f"{mode}.{key}"] = summary[key]
        figures[f"{mode}.usage_mismatches"] = len(sim.get("usage_mismatches", []))
        details[mode] = {"placement": doc["placement"], "summary": summary, "refusals": sim["refusals"]}
    return WorkloadResult(figures=figures, details=details)


def _figures() -> tuple[Figure, ...]:
    out: list[Figure] = []
    for mode, how in (("http", "over HTTP"), ("inprocess", "in-process")):
        out += [
            Figure(f"{mode}.placements_per_s", "placements/s", "higher", label=f"{how}: placements per wall second"),
            Figure(f"{mode}.schedule_p50_ms", "ms", "lower", label=f"{how}: select_destinations p50"),
            Figure(f"{mode}.schedule_p99_ms", "ms", "lower", label=f"{how}: select_destinations p99"),
            Figure(f"{mode}.setup_s", "s", None, label=f"{how}: creating the hosts", show=True),
            Figure(f"{mode}.wall_s", "s", None, label=f"{how}: event loop wall time", show=True),
            Figure(f"{mode}.placed", "", None, label=f"{how}: instances placed", show=True),
            Figure(f"{mode}.refused", "", None, agg="sum", label=f"{how}: refused (NoValidHost)", show=True),
            Figure(f"{mode}.usage_mismatches", "", None, agg="sum",
                   label=f"{how}: hosts whose usages differ from the ledger (must be 0)", show=True),
        ]
    return tuple(out)


WORKLOAD = Workload(
    name="simulate",
    summary="fleet simulator speed over H hosts: simulated placements per wall second, over HTTP and in-process "
            "(allotment only)",
    figures=_figures(),
    run=run,
    targets=("allotment",),
)
