"""Phase 1, request filters: the server group from the registry, and constraints for placement's query."""

from __future__ import annotations

from allotment.scheduler.cycle.state import Context, CycleState, GroupState
from allotment.scheduler.errors import InvalidInput, InvalidRequestSpec
from allotment.scheduler.errors import NotFound as RegistryNotFound
from allotment.scheduler.request_filters import RequestFilterContext, process_request_spec
from allotment.scheduler.topology.translate import with_pci_groups

__all__ = ["run"]


def run(ctx: Context, state: CycleState) -> None:
    state.group = _server_group(ctx, state)
    # RequestFilterFailed is a NoValidHost: it propagates as the answer. all_aggregates
    # refreshes the registry snapshot: the request's one refresh (the hosts phase reuses it).
    state.constraints = process_request_spec(state.spec, RequestFilterContext(ctx.config, ctx.registry.all_aggregates()))
    state.spec = state.constraints.apply(state.spec)
    # PCI aliases become placement request groups (one per device), resolved against the config.
    state.spec = with_pci_groups(state.spec, ctx.config)


def _server_group(ctx: Context, state: CycleState) -> GroupState | None:
    """The server group from the registry (members, hosts, rules), merged with what the spec says.

    The registry is what enforces a hard policy, so a group it does not know is refused.
    """
    given = state.spec.instance_group
    hint = state.spec.scheduler_hints.get("group") or []
    uuid = given.uuid if given is not None else (hint[0] if hint else None)
    if uuid is None:
        return None
    try:
        registered = ctx.registry.get_group(uuid)
    except (RegistryNotFound, InvalidInput):
        raise InvalidRequestSpec(f"instance_group: server group {uuid} is not registered") from None
    if given is not None and given.policy != registered.policy:
        raise InvalidRequestSpec(
            f"instance_group.policy: {given.policy!r} but server group {uuid} has policy {registered.policy!r}")
    group = registered.to_spec()
    members, hosts = list(group.members), list(group.hosts)
    if given is not None:
        members = sorted(set(members) | set(given.members))
        hosts = sorted(set(hosts) | set(given.hosts))
    return GroupState(uuid=group.uuid, policy=group.policy, rules=dict(group.rules), members=members, hosts=hosts)
