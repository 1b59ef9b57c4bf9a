"""Phase 2, placement query: the spec as one GET /allocation_candidates, and placement's answer."""

from __future__ import annotations

from allotment.scheduler.claims import Ledger
from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.placement_query import to_placement_query

__all__ = ["run"]


def run(ctx: Context, state: CycleState) -> None:
    # NoSuchHost (a forced host the registry does not know) is a NoValidHost: it propagates.
    state.query = to_placement_query(state.spec, limit=ctx.config.max_placement_results,
                                     host_to_root=ctx.registry.root_of)
    state.answer = ctx.placement.allocation_candidates(state.query)
    state.ledger = Ledger(state.answer.get("provider_summaries") or {})
