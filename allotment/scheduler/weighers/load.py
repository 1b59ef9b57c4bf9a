"""Weighers on how busy a host is: I/O-heavy tasks in flight and the number of instances."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState, io_ops
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec

__all__ = ["IoOpsWeigher", "NumInstancesWeigher"]


class IoOpsWeigher(HostWeigher):
    """Instances busy building, resizing, snapshotting...; the default multiplier (-1) prefers idle hosts."""

    multiplier_option: ClassVar[str] = "io_ops_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    default_multiplier: ClassVar[float] = -1.0
    minval: ClassVar[float | None] = 0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.num_io_ops

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        # num_io_ops without a property call per host: this runs over every candidate.
        return [io_ops(h.instances) for h in hosts]


class NumInstancesWeigher(HostWeigher):
    """Instances on the host; off by default (multiplier 0), negative to spread, positive to pack."""

    multiplier_option: ClassVar[str] = "num_instances_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    default_multiplier: ClassVar[float] = 0.0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.num_instances

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [len(h.instances) for h in hosts]
