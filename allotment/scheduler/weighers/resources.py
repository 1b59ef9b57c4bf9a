"""Weighers on free capacity: RAM, CPU and disk. A positive multiplier spreads, a negative one stacks."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec

__all__ = ["CPUWeigher", "DiskWeigher", "RAMWeigher"]

# Each weigher also offers raw_weights(), the same values for many hosts in one call (see weighing.py).


class RAMWeigher(HostWeigher):
    """Free RAM in MiB."""

    multiplier_option: ClassVar[str] = "ram_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    # Overcommitted hosts report negative free space; they all rank as empty.
    minval: ClassVar[float | None] = 0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.free_ram_mb

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.free_ram_mb for h in hosts]


class CPUWeigher(HostWeigher):
    """Free vCPUs after the allocation ratio: total * ratio - used."""

    multiplier_option: ClassVar[str] = "cpu_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    minval: ClassVar[float | None] = 0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.vcpus_total * host.cpu_allocation_ratio - host.vcpus_used

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.vcpus_total * h.cpu_allocation_ratio - h.vcpus_used for h in hosts]


class DiskWeigher(HostWeigher):
    """Free disk in MiB."""

    multiplier_option: ClassVar[str] = "disk_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    minval: ClassVar[float | None] = 0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        return host.free_disk_mb

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.free_disk_mb for h in hosts]
