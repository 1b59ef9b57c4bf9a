"""Running the enabled filters over the candidate hosts, and narrowing the hosts to forced or requested ones first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["FilterResult", "narrow_hosts", "run_filters"]


@dataclass
class FilterResult:
    hosts: list[HostState]
    # (filter name, hosts before, hosts after) for every filter that ran, in order.
    removed: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def stopped_by(self) -> str | None:
        """The filter that removed the last host, if one did."""
        if not self.hosts and self.removed:
            return self.removed[-1][0]
        return None

    def reason(self) -> str:
        """Which filters removed how many hosts, for a NoValidHost message."""
        parts = [f"{name} removed {before - after} of {before} hosts" for name, before, after in self.removed
                 if after < before]
        if parts:
            return "; ".join(parts)
        if not self.removed and not self.hosts:
            return "no candidate hosts to filter"
        count = self.removed[0][1] if self.removed else len(self.hosts)
        return f"no filter removed any of {count} hosts"


def run_filters(
    filters: Sequence[HostFilter], hosts: Sequence[HostState], spec: RequestSpec, *, first_instance: bool
) -> FilterResult:
    """Apply ``filters`` in order, stopping as soon as one leaves no host.

    Filters marked ``run_filter_once_per_request`` run only for the first instance of a
    request (``first_instance``); for later instances the caller passes the hosts that
    survived them. A filter whose ``applies(spec)`` is False is not called; it is still
    listed in ``removed`` (nothing removed), as when it ran.
    """
    current = list(hosts)
    result = FilterResult(current)
    if not current:
        return result
    for host_filter in filters:
        if host_filter.run_filter_once_per_request and not first_instance:
            continue
        before = len(current)
        # A filter with nothing to check for this spec is reported as run, removing nothing.
        if host_filter.applies(spec):
            current = list(host_filter.filter_all(current, spec))
        result.removed.append((host_filter.name(), before, len(current)))
        if not current:
            break
    result.hosts = current
    return result


def narrow_hosts(hosts: Sequence[HostState], spec: RequestSpec) -> tuple[list[HostState], bool]:
    """Cut the hosts down to what the request allows before any filter runs.

    Order: the requested destination (its host and/or node), then ``ignore_hosts``,
    then ``force_hosts`` / ``force_nodes``. Host names compare case-insensitively, node
    names exactly. The second value is True when hosts or nodes were forced: an operator
    forcing a host means "there, whatever the filters say", so the caller skips them. A
    requested destination still goes through the filters.
    """
    narrowed = list(hosts)
    destination = spec.requested_destination
    if destination is not None and destination.host:
        narrowed = [h for h in narrowed if h.host == destination.host]
    if destination is not None and destination.node:
        narrowed = [h for h in narrowed if h.nodename == destination.node]
    if spec.ignore_hosts:
        ignored = {name.lower() for name in spec.ignore_hosts}
        narrowed = [h for h in narrowed if h.host.lower() not in ignored]
    if spec.force_hosts:
        forced = {name.lower() for name in spec.force_hosts}
        narrowed = [h for h in narrowed if h.host.lower() in forced]
    if spec.force_nodes:
        forced_nodes = set(spec.force_nodes)
        narrowed = [h for h in narrowed if h.nodename in forced_nodes]
    return narrowed, bool(spec.force_hosts or spec.force_nodes)
