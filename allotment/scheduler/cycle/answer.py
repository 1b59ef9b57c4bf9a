"""The answer: per instance the claimed host, then alternates that passed its filters (not claimed)."""

from __future__ import annotations

import copy
from typing import Any

from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.host_state import HostState
from allotment.scheduler.placement_query import PLACEMENT_MICROVERSION
from allotment.scheduler.selection import ScheduleResult, Selection

__all__ = ["result"]


def result(ctx: Context, state: CycleState) -> ScheduleResult:
    chosen = {p.host.uuid for p in state.placed}
    wanted = max(0, ctx.config.max_attempts - 1) if state.return_alternates else 0
    rows = []
    for p, ordered in zip(state.placed, state.ranked):
        row = [_selection(ctx, p.host, p.request)]
        for host in ordered:
            if len(row) > wanted:
                break
            if host.uuid in chosen or host.uuid in state.refused or host.cell != p.host.cell:
                continue
            request = next((r for r in host.allocation_candidates if state.ledger.fits(r)), None)
            if request is not None:
                row.append(_selection(ctx, host, request))
        rows.append(row)
    return ScheduleResult(reservation_id=state.reservation, selections=rows,
                          instance_uuids=list(state.instance_uuids), timings=state.timings,
                          migration_uuid=state.move.migration if state.move else None,
                          dry_run=state.dry_run, decision=_decision(state) if state.dry_run else [])


def _decision(state: CycleState) -> list[dict[str, Any]]:
    """Per instance of a dry run: the filters' counts, then the best hosts with their weights per weigher."""
    out = []
    for i, p in enumerate(state.placed):
        weights = state.weights[i] if i < len(state.weights) else []
        removed = state.filter_runs[i] if i < len(state.filter_runs) else []
        out.append({
            "instance": p.instance,
            "host": p.host.host,
            "filters": [{"filter": n, "before": b, "after": a, "removed": b - a} for n, b, a in removed],
            "hosts": weights,
        })
    return out


def _selection(ctx: Context, host: HostState, request: dict[str, Any]) -> Selection:
    zones = sorted({a.metadata["availability_zone"] for a in host.aggregates if a.metadata.get("availability_zone")})
    return Selection(host=host.host, nodename=host.nodename, compute_node_uuid=host.uuid, cell=host.cell,
                     allocation_request=copy.deepcopy(request), allocation_request_version=PLACEMENT_MICROVERSION,
                     availability_zone=",".join(zones) or ctx.config.default_availability_zone,
                     limits=dict(host.limits))
