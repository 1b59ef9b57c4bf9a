"""Filters that place an instance relative to other instances: same/different host hints and server groups."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec

__all__ = ["DifferentHostFilter", "SameHostFilter", "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter"]


def _hint(spec: RequestSpec, name: str) -> list[str]:
    value = spec.scheduler_hints.get(name) or []
    return [value] if isinstance(value, str) else list(value)


class SameHostFilter(HostFilter):
    """Hint ``same_host``: the host must already run at least one of the listed instances."""

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return bool(_hint(spec, "same_host"))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        wanted = _hint(spec, "same_host")
        return not wanted or any(uuid in host.instances for uuid in wanted)


class DifferentHostFilter(HostFilter):
    """Hint ``different_host``: the host must run none of the listed instances."""

    run_filter_once_per_request: ClassVar[bool] = True

    def applies(self, spec: RequestSpec) -> bool:
        return bool(_hint(spec, "different_host"))

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return not any(uuid in host.instances for uuid in _hint(spec, "different_host"))


class ServerGroupAffinityFilter(HostFilter):
    """Policy ``affinity``: once members are placed (group.hosts), only those hosts qualify.

    Runs for every instance of a request: the first one placed decides where the rest go.
    """

    def applies(self, spec: RequestSpec) -> bool:
        # Every host passes until a member is placed: without this, a call per host per instance.
        group = spec.instance_group
        return group is not None and group.policy == "affinity" and bool(group.hosts)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        group = spec.instance_group
        if group is None or group.policy != "affinity" or not group.hosts:
            return True
        # A move of a member re-checks its current host, which is where the group is.
        if spec.instance_uuid is not None and spec.instance_uuid in host.instances:
            return True
        return host.host in group.hosts


class ServerGroupAntiAffinityFilter(HostFilter):
    """Policy ``anti-affinity``: fewer than ``max_server_per_host`` (default 1) members already on the host."""

    def applies(self, spec: RequestSpec) -> bool:
        group = spec.instance_group
        return group is not None and group.policy == "anti-affinity"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return bool(self.filter_all([host], spec))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        group = spec.instance_group
        if group is None or group.policy != "anti-affinity":
            return list(hosts)
        limit = int(group.rules.get("max_server_per_host", 1))
        members = set(group.members)
        moving = spec.instance_uuid
        # The instance being moved counts itself on its source host; that host stays eligible.
        return [h for h in hosts if (moving is not None and moving in h.instances)
                or len(h.instances.keys() & members) < limit]
