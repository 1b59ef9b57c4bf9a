"""The registry of benchmark workloads (BENCHMARKS.md), runnable or still to do."""

from __future__ import annotations

from allotment.bench.workloads import (
    ac,
    boot,
    capacity,
    claim,
    cold,
    explode,
    load,
    nested,
    numa,
    schedule,
    simulate,
)
from allotment.bench.workloads.base import COMMON_FIGURES, Context, Figure, Params, Workload, WorkloadResult

__all__ = [
    "COMMON_FIGURES",
    "REGISTRY",
    "Context",
    "Figure",
    "Params",
    "Workload",
    "WorkloadResult",
    "for_target",
    "resolve",
]


REGISTRY: dict[str, Workload] = {
    w.name: w
    for w in (
        load.WORKLOAD,
        ac.WORKLOAD,
        ac.CONCURRENT_WORKLOAD,
        claim.WORKLOAD,
        claim.CONC_WORKLOAD,
        claim.RACE_WORKLOAD,
        nested.WORKLOAD,
        explode.WORKLOAD,
        schedule.WORKLOAD,
        numa.WORKLOAD,
        boot.WORKLOAD,
        capacity.WORKLOAD,
        cold.WORKLOAD,
        simulate.WORKLOAD,
    )
}


def resolve(names: list[str]) -> list[tuple[Workload, bool]]:
    """The workloads to run, in order, each with ``measured`` (False: only run as another's setup).

    Unknown or not yet implemented names raise ValueError.
    """
    for name in names:
        if name not in REGISTRY:
            raise ValueError(f"unknown workload {name!r}; known: {', '.join(REGISTRY)}")
        if not REGISTRY[name].ready:
            raise ValueError(f"workload {name!r} is not implemented yet ({REGISTRY[name].summary})")
    order: list[tuple[Workload, bool]] = []
    seen: set[str] = set()

    def add(name: str, measured: bool) -> None:
        if name in seen:
            return
        for dep in REGISTRY[name].requires:
            add(dep, dep in names)
        seen.add(name)
        order.append((REGISTRY[name], measured))

    for name in names:
        add(name, True)
    return order


def for_target(order: list[tuple[Workload, bool]], target: str) -> list[tuple[Workload, bool]]:
    """The part of ``order`` (from ``resolve``) that runs against ``target``.

    A workload limited to other targets is left out, and so is a setup workload
    (not measured) that no remaining workload requires.
    """
    kept = [(w, measured) for w, measured in order if not w.targets or target in w.targets]
    needed = {dep for w, _ in kept for dep in w.requires}
    return [(w, measured) for w, measured in kept if measured or w.name in needed]
