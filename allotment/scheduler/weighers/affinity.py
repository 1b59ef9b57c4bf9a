"""Weighers for soft server group policies: prefer hosts with (soft-affinity) or without (soft-anti) members."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec

__all__ = ["ServerGroupSoftAffinityWeigher", "ServerGroupSoftAntiAffinityWeigher", "members_on_host"]


def members_on_host(host: HostState, spec: RequestSpec, policy: str) -> int:
    """How many members of the request's server group run on the host, when the group has ``policy``."""
    group = spec.instance_group
    if group is None or group.policy != policy:
        return 0
    return sum(1 for uuid in group.members if uuid in host.instances)


def _members_on_hosts(hosts: list[HostState], spec: RequestSpec, policy: str) -> list[float]:
    group = spec.instance_group
    if group is None or group.policy != policy or not group.members:
        return [0] * len(hosts)
    members = set(group.members)
    # A keys view & a set walks the smaller side in C: cheap for few members or for huge groups.
    return [len(h.instances.keys() & members) for h in hosts]


class ServerGroupSoftAffinityWeigher(HostWeigher):
    multiplier_option: ClassVar[str] = "soft_affinity_weight_multiplier"

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return members_on_host(host, spec, "soft-affinity")

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return _members_on_hosts(hosts, spec, "soft-affinity")


class ServerGroupSoftAntiAffinityWeigher(HostWeigher):
    multiplier_option: ClassVar[str] = "soft_anti_affinity_weight_multiplier"

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return -members_on_host(host, spec, "soft-anti-affinity")

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [-n for n in _members_on_hosts(hosts, spec, "soft-anti-affinity")]
