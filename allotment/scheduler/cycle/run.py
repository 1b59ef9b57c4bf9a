"""One request through the phases, timed, all-or-nothing.

request filters -> placement query -> host states -> per instance: select (filters,
weighers) then claim; or, for a plain multi-instance request, every instance selected and then
all claimed in one write (``batch``). If fewer than all instances are placed, every claim, membership and
instance record this request made is removed again.
"""

from __future__ import annotations

from allotment.scheduler.cycle import answer, batch, claim, dry_run, explain, hosts, prefilter, query, select
from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.host_state import HostState
from allotment.scheduler.selection import ScheduleResult

__all__ = ["run_cycle"]


def run_cycle(ctx: Context, state: CycleState) -> ScheduleResult:
    try:
        return _run(ctx, state)
    except NoValidHost as exc:
        explain.attach(ctx, state, exc)  # only on the refusal path: a placed request pays nothing for it
        raise


def _run(ctx: Context, state: CycleState) -> ScheduleResult:
    prefilter.run(ctx, state)
    state.lap("request_filters")
    batched = batch.applies(ctx, state)
    while True:
        query.run(ctx, state)
        state.lap("placement_query")
        hosts.run(ctx, state)
        state.lap("host_states")
        try:
            if batched:
                batch.place_all(ctx, state)
            else:
                _place_each(ctx, state)
            if state.move is not None:
                claim.mark_moving(ctx, state.move, state.placed[0].host.host, state.fields)
        except batch.Lost:
            # Nothing of the batch was written: place the request again, one claim at a time.
            batched = False
            state.restart()
            continue
        except BaseException:
            if not state.dry_run:
                claim.undo(ctx, state)
            raise
        break
    state.lap("claim")
    out = answer.result(ctx, state)
    state.finish()
    return out


def _place_each(ctx: Context, state: CycleState) -> None:
    current: list[HostState] = state.hosts
    count = len(state.instance_uuids)
    for index in range(count):
        spec = select.instance_spec(state, index)
        passed = select.filter_hosts(ctx, state, index, current, spec)
        state.lap("filtering")
        ordered = select.weigh(ctx, state, passed, spec)
        if state.dry_run:
            state.weights.append(dry_run.weights_by_weigher(ctx, ordered, spec))
        state.lap("weighing")
        chosen = claim.claim_first(ctx, state, index, ordered)
        if chosen is None:
            state.lap("claim")
            raise NoValidHost(
                f"not enough hosts: placed {index} of {count} instance(s); none of the {len(ordered)} "
                f"host(s) that passed the filters could take the next one (resources used by earlier "
                f"instances of the request or taken meanwhile, or refused by the server group)")
        claim.consume(ctx, state, chosen)
        state.lap("claim")
        state.ranked.append(ordered)
        current = passed
