"""A dry run: the whole decision without a claim or a registry write.

Instead of ``PUT /allocations`` the first allocation request of the host that still fits
this request's own earlier instances (the ledger) is taken, in memory only; the weights are
kept per weigher so the answer can show why each host ranks where it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from allotment.scheduler.cycle.state import Context, CycleState, Placed
from allotment.scheduler.host_state import HostState
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.weighing import weigh_hosts

__all__ = ["SHOWN_HOSTS", "decide_on", "weights_by_weigher"]

SHOWN_HOSTS = 10  # ranked hosts a dry run shows per instance (at least max_attempts)


def decide_on(state: CycleState, instance: str, host: HostState) -> Placed | None:
    """Take the host's first allocation request that still fits, without claiming it."""
    request = next((r for r in host.allocation_candidates if state.ledger.fits(r)), None)
    if request is None:
        return None
    chosen = Placed(instance, host, request)
    state.placed.append(chosen)
    state.ledger.take(request)
    return chosen


def weights_by_weigher(ctx: Context, ordered: Sequence[HostState], spec: RequestSpec) -> list[dict[str, Any]]:
    """The best hosts in order: name, total weight, and per weigher its share (normalised times multiplier).

    Each weigher is applied alone (the same normalisation as together); the hosts' total
    weights are put back afterwards.
    """
    shown = list(ordered[:max(SHOWN_HOSTS, ctx.config.max_attempts)])
    totals = [h.weight for h in ordered]
    out: dict[str, dict[str, float]] = {h.host: {} for h in shown}
    if len(ordered) > 1:
        everyone = list(ordered)
        for weigher in ctx.weighers:
            weigh_hosts([weigher], everyone, spec)
            for h in shown:
                out[h.host][weigher.name()] = h.weight
    for h, total in zip(ordered, totals):
        h.weight = total
    return [{"host": h.host, "weight": total, "weights": out[h.host]} for h, total in zip(shown, totals)]
