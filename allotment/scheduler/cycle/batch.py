"""Phases 4 and 5 for a plain multi-instance request: choose every instance's host, then claim them in one write.

Instance by instance, a request of N claims N times in placement and records N times in the
registry, each its own transaction. When no claim needs anything checked after it (no server
group, whose policy the registry holds per member; no NUMA or PCI fit, pinned per claim; not
a move or a dry run), the hosts are chosen first against the request's ledger, exactly as
the one-by-one path would choose them when no claim is refused, and then all N are claimed
in one ``POST /allocations`` (atomic in placement) and recorded in one registry transaction.

If placement refuses the batch (another scheduler took the capacity meanwhile, or a
provider went away), nothing was written: ``Lost`` tells the cycle to place the request
again one by one, from a fresh candidates query.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from allotment.client import BadRequest, Conflict, NotFound
from allotment.scheduler import metrics
from allotment.scheduler.claims import INSTANCE, as_allocations, is_consumer_conflict
from allotment.scheduler.cycle import claim, select
from allotment.scheduler.cycle.state import Context, CycleState, Placed
from allotment.scheduler.errors import ConsumerInUse, NoValidHost
from allotment.scheduler.host_state import HostState
from allotment.scheduler.topology.translate import request_of

__all__ = ["Lost", "applies", "place_all"]

LOG = logging.getLogger(__name__)


class Lost(Exception):
    """Placement refused the batch claim; nothing of it was written."""


def applies(ctx: Context, state: CycleState) -> bool:
    """Whether the request may be claimed in one write."""
    return (ctx.config.batch_claims and len(state.instance_uuids) > 1 and not state.dry_run
            and state.move is None and state.group is None
            and not request_of(state.spec, ctx.config).asks_anything)


def place_all(ctx: Context, state: CycleState) -> None:
    """Choose a host for every instance, then claim and record them all; NoValidHost when one has none."""
    current: list[HostState] = state.hosts
    count = len(state.instance_uuids)
    chosen = state.chosen
    for index in range(count):
        spec = select.instance_spec(state, index)
        passed = select.filter_hosts(ctx, state, index, current, spec)
        state.lap("filtering")
        ordered = select.weigh(ctx, state, passed, spec)
        state.lap("weighing")
        placed = _choose(state, index, ordered)
        if placed is None:
            state.lap("claim")
            raise NoValidHost(
                f"not enough hosts: placed {index} of {count} instance(s); none of the {len(ordered)} "
                f"host(s) that passed the filters could take the next one (resources used by earlier "
                f"instances of the request)")
        state.ledger.take(placed.request)
        claim.take_in(state, placed)
        chosen.append(placed)
        state.ranked.append(ordered)
        current = passed
        state.lap("claim")
    _claim_all(ctx, state, chosen)
    state.placed, state.chosen = chosen, []  # claimed: from here on a failure undoes them
    recorded = ctx.registry.put_instances([(p.instance, p.host.host) for p in chosen], **state.fields)
    for p, created in zip(chosen, recorded):
        p.recorded = created
    for _ in chosen:
        metrics.observe_claim("boot", "claimed", retry=False)


def _choose(state: CycleState, index: int, ordered: Sequence[HostState]) -> Placed | None:
    """The first host with a candidate the ledger still fits, and that candidate (as the one-by-one claims would)."""
    for host in ordered:
        if host.uuid in state.refused:
            continue
        for request in host.allocation_candidates:
            if state.ledger.fits(request):
                return Placed(state.instance_uuids[index], host, request)
        state.refused.add(host.uuid)  # used up by earlier instances of this request
    return None


def _claim_all(ctx: Context, state: CycleState, chosen: Sequence[Placed]) -> None:
    spec = state.spec
    body = {p.instance: as_allocations(p.request["allocations"], project_id=spec.project_id,
                                       user_id=spec.user_id, consumer_type=INSTANCE) for p in chosen}
    try:
        ctx.placement.post_allocations(body)
    except Conflict as exc:
        if is_consumer_conflict(exc):
            raise ConsumerInUse(
                "an instance of this request already holds allocations in placement; a move goes through "
                "schedule_move") from None
        metrics.observe_claim("boot", "conflict", retry=False)
        LOG.debug("batch claim of %d instance(s) lost a race, placing them one by one: %s", len(chosen), exc.detail)
        raise Lost(exc.detail) from None
    except (BadRequest, NotFound) as exc:
        metrics.observe_claim("boot", "stale", retry=False)
        state.stale.update(p.instance for p in chosen)
        LOG.info("batch claim of %d instance(s) refused, candidates stale; placing them one by one: %s",
                 len(chosen), exc.detail)
        raise Lost(exc.detail) from None
