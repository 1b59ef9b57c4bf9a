"""Phase 5, claim and rollback: claim in placement on the first host that takes the instance, record it, undo all.

A hard server group policy is made to hold across scheduler processes by the registry:
after the claim the member is added under the group's lock, and a refusal drops the claim
and moves on. ``undo`` removes every claim, membership and record the request made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from allotment.client import BadRequest, Conflict, NotFound
from allotment.scheduler import metrics
from allotment.scheduler.claims import claim, delete_claim, is_consumer_conflict
from allotment.scheduler.cycle import dry_run
from allotment.scheduler.cycle.state import Context, CycleState, Move, Placed
from allotment.scheduler.errors import ConsumerInUse, GroupPolicyViolation, InvalidInput, TopologyClaimFailed
from allotment.scheduler.host_state import HostState, InstanceInfo
from allotment.scheduler.moves import MOVING_TASK_STATE
from allotment.scheduler.placement_query import apply_mappings
from allotment.scheduler.topology.fit import fit_instance
from allotment.scheduler.topology.translate import allowed_devices, limits_of, request_of
from allotment.scheduler.topology.usage import HostUsage

__all__ = ["claim_first", "consume", "mark_moving", "take_in", "undo"]

LOG = logging.getLogger(__name__)

# Claims tried on one host before moving on: a nested host may fit through another candidate
# (the other NUMA node), but a host that refused three is full for us.
_CLAIMS_PER_HOST = 3


def claim_first(ctx: Context, state: CycleState, index: int, ordered: Sequence[HostState]) -> Placed | None:
    """Claim on the first host that takes instance ``index``; the claim is in ``state.placed`` before anything else."""
    for host in ordered:
        if host.uuid in state.refused:
            continue
        instance = state.instance_uuids[index]
        chosen = dry_run.decide_on(state, instance, host) if state.dry_run else _claim_on(ctx, state, instance, host)
        if chosen is not None:
            return chosen
        state.refused.add(host.uuid)
    return None


def _claim_on(ctx: Context, state: CycleState, instance: str, host: HostState) -> Placed | None:
    spec = state.spec
    tries = 0
    for request in host.allocation_candidates:
        if tries == _CLAIMS_PER_HOST:
            break
        if not state.ledger.fits(request):
            continue  # used up by an earlier instance of this request
        tries += 1
        kind = "boot" if state.move is None else "move"
        retry = tries > 1 or bool(state.refused)
        try:
            claim(ctx.placement, instance, request, project_id=spec.project_id, user_id=spec.user_id,
                  maybe_empty=instance in state.stale)
        except Conflict as exc:
            if is_consumer_conflict(exc):
                raise ConsumerInUse(
                    f"instance {instance} already holds allocations in placement; a move goes through "
                    "schedule_move") from None
            metrics.observe_claim(kind, "conflict", retry=retry)
            LOG.debug("claim for %s on %s lost a race: %s", instance, host.host, exc.detail)
            continue
        except (BadRequest, NotFound) as exc:
            # A provider or class of the candidate was deleted since the query.
            metrics.observe_claim(kind, "stale", retry=retry)
            state.stale.add(instance)
            LOG.info("claim for %s on %s refused, candidate stale: %s", instance, host.host, exc.detail)
            continue
        chosen = Placed(instance, host, request)
        state.placed.append(chosen)
        try:
            _pin(ctx, state, chosen)
        except TopologyClaimFailed as exc:
            state.placed.pop()
            delete_claim(ctx.placement, instance)
            LOG.info("topology claim for %s on %s refused: %s", instance, host.host, exc.detail)
            continue
        try:
            _join_group(ctx, state, chosen)
        except GroupPolicyViolation as exc:
            state.placed.pop()
            delete_claim(ctx.placement, instance)
            if chosen.fit is not None:
                _release_fit(ctx, state, chosen)
            metrics.observe_claim(kind, "group_refused", retry=retry)
            LOG.info("server group refused %s on %s: %s", instance, host.host, exc)
            return None
        metrics.observe_claim(kind, "claimed", retry=retry)
        state.ledger.take(request)
        return chosen
    return None


def _pin(ctx: Context, state: CycleState, chosen: Placed) -> None:
    """Fit the instance's NUMA cells, CPUs, pages and devices on the host and record them in the registry.

    The fit is computed again inside the registry's transaction, against every claim on the
    host at that moment: the filters' answer came from the snapshot and may be stale.
    """
    request = request_of(state.spec, ctx.config)
    if not request.asks_anything:
        return
    limits, pack = limits_of(chosen.host), ctx.config.packing_host_numa_cells_allocation_strategy
    allowed = allowed_devices(request, chosen.request)
    chosen.fit = ctx.registry.claim_topology(
        chosen.host.host, chosen.instance,
        lambda topology, usage: fit_instance(topology, usage, request, limits=limits, pack=pack,
                                             allowed_devices=allowed))


def _release_fit(ctx: Context, state: CycleState, chosen: Placed) -> None:
    # A move keeps the instance's claim on its source host.
    keep = state.move.source if state.move is not None else None
    ctx.registry.release_topology(chosen.instance, keep_host=keep)


def _join_group(ctx: Context, state: CycleState, chosen: Placed) -> None:
    group, move = state.group, state.move
    if group is None:
        return
    if move is None:
        ctx.registry.add_group_member(group.uuid, chosen.instance, chosen.host.host)
        chosen.group = group.uuid
    else:
        ctx.registry.hold_group_for_move(group.uuid, chosen.instance, move.migration, chosen.host.host, move.source)
        chosen.move_hold = True


def consume(ctx: Context, state: CycleState, chosen: Placed) -> None:
    """Record the placed instance (boots) and let the later instances of the request see it."""
    if state.move is None and not state.dry_run:  # a moving instance stays recorded on its source until confirm
        chosen.recorded = ctx.registry.put_instance(chosen.instance, chosen.host.host, **state.fields)
    take_in(state, chosen)


def take_in(state: CycleState, chosen: Placed) -> None:
    """Count the placed instance on its host state (and group) for the later instances of the request."""
    host, fields = chosen.host, state.fields
    info = InstanceInfo(uuid=chosen.instance, flavor_name=fields["flavor_name"], vcpus=fields["vcpus"],
                        memory_mb=fields["memory_mb"], root_gb=fields["root_gb"], project_id=fields["project_id"],
                        image_id=fields["image_id"], task_state=fields["task_state"])
    host.consume(info, state.ledger.tree_resources(chosen.request, host.uuid))
    if chosen.fit is not None:
        usage = host.numa_usage.copy() if host.numa_usage is not None else HostUsage()
        usage.add(chosen.fit)
        host.numa_usage = usage  # the snapshot's object is shared: replaced, not edited
    group = state.group
    if group is not None:
        if chosen.instance not in group.members:
            group.members.append(chosen.instance)
        if host.host not in group.hosts:
            group.hosts.append(host.host)
    if state.spec.requested_resources:
        chosen.mapped_groups = apply_mappings(state.spec, chosen.request.get("mappings") or {})


def mark_moving(ctx: Context, move: Move, dest: str, fields: dict[str, object]) -> None:
    try:
        ctx.registry.set_task_state(move.instance, MOVING_TASK_STATE)
    except InvalidInput:
        # Not recorded yet: it is (still) where its source allocations are.
        ctx.registry.record_instance(move.instance, move.source or dest, **{**fields, "task_state": MOVING_TASK_STATE})


def undo(ctx: Context, state: CycleState) -> None:
    """Remove every claim, membership and record this request made (best effort, each step on its own)."""
    move = state.move
    for p in reversed(state.placed):
        try:
            delete_claim(ctx.placement, p.instance)
        except Exception:
            LOG.exception("could not delete the claim of %s while rolling back", p.instance)
        if p.fit is not None:
            try:
                _release_fit(ctx, state, p)
            except Exception:
                LOG.exception("could not release the topology claim of %s while rolling back", p.instance)
        try:
            if p.move_hold and move is not None and move.source is not None:
                ctx.registry.finish_move(p.instance, move.migration, move.source)
            elif p.recorded:
                ctx.registry.remove_instance(p.instance)
            elif p.group is not None:
                ctx.registry.remove_group_member(p.group, p.instance)
        except Exception:
            LOG.exception("could not roll back the registry for %s", p.instance)
