"""Phase 4, select: for one instance, the host filters then the weighers; its hosts best first."""

from __future__ import annotations

from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.filtering import FilterResult, narrow_hosts, run_filters
from allotment.scheduler.host_state import HostState
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.weighing import pick, weigh_hosts

__all__ = ["filter_hosts", "instance_spec", "weigh"]


def instance_spec(state: CycleState, index: int) -> RequestSpec:
    """The spec as filters and weighers see it for instance ``index``: its uuid, the group as placed so far."""
    group = state.group.as_spec() if state.group is not None else state.spec.instance_group
    return state.spec.for_instance(state.instance_uuids[index], group)


def filter_hosts(ctx: Context, state: CycleState, index: int, current: list[HostState],
                 spec: RequestSpec) -> list[HostState]:
    """The hosts of ``current`` that may take instance ``index``; NoValidHost (with the reason) when none."""
    narrowed, forced = narrow_hosts(current, spec)
    result = FilterResult(narrowed) if forced else run_filters(ctx.filters, narrowed, spec, first_instance=index == 0)
    if index == 0:
        state.once = [r for r in result.removed if r[0] in ctx.once_per_request]
    if state.dry_run:
        state.filter_runs.append(result.removed)
    if not result.hosts:
        # Later instances do not rerun the once-per-request filters: say what they removed first.
        shown = result if index == 0 else FilterResult(result.hosts, state.once + result.removed)
        state.refusing_filters = shown.removed
        raise NoValidHost(_filter_reason(shown, narrowed, index, len(state.instance_uuids)))
    return result.hosts


def weigh(ctx: Context, state: CycleState, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
    """``hosts`` best first (weighers, then ``host_subset_size`` and shuffling)."""
    # A single instance has no later weighing to share with.
    shared = state.weighing if len(state.instance_uuids) > 1 else None
    return pick(weigh_hosts(ctx.weighers, hosts, spec, shared), ctx.config, ctx.rng)


def _filter_reason(result: FilterResult, narrowed: list[HostState], index: int, count: int) -> str:
    reason = result.reason() if narrowed else "no candidate host is left after the requested, ignored and forced hosts"
    if count > 1:
        reason += f" (placing instance {index + 1} of {count})"
    return reason
