"""Phase 3, candidates to host states: the registry's HostState of every root placement offered."""

from __future__ import annotations

from typing import Any

from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.host_manager import candidate_hosts

__all__ = ["run"]


def run(ctx: Context, state: CycleState) -> None:
    # Each HostState is made with placement's figures of its tree, for the roots placement summarised.
    # The request filters' phase refreshed the snapshot at the start of this request: one
    # refresh per request is enough (the registry's hard checks are made at claim time).
    state.hosts = candidate_hosts(
        lambda figures: ctx.registry.host_states(figures, figures=figures, refresh=False), state.answer)
    if not state.hosts:
        raise NoValidHost(_nothing_offered(state.answer))


def _nothing_offered(answer: dict[str, Any]) -> str:
    offered = len(answer.get("allocation_requests") or ())
    if not offered:
        return "placement found no allocation candidates for the request"
    return f"placement offered {offered} allocation request(s), none of them on a registered host"
