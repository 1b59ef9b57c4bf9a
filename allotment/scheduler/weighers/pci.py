"""PCIWeigher: keep hosts with PCI devices free for the instances that need them."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.pci import free_devices

__all__ = ["PCIWeigher"]

_MAX_DEVICES = 100
_NO_DEVICES = float(_MAX_DEVICES)  # raw_weight of a host without devices


class PCIWeigher(HostWeigher):
    """Hosts with fewer free PCI devices weigh more, as in Nova.

    An instance without PCI requests then avoids device hosts when it can; one with PCI
    requests (the filters already kept only hosts that can serve it) stacks onto the hosts
    with the fewest free devices, leaving whole device hosts for later requests.
    ``pci_weight_multiplier`` (default 1.0) scales it; 0 turns it off.
    """

    multiplier_option: ClassVar[str] = "pci_weight_multiplier"
    raw_from_host_only: ClassVar[bool] = True
    default_multiplier: ClassVar[float] = 1.0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        topology, usage = host.numa_topology, host.numa_usage
        free = len(free_devices(topology, usage.devices)) if topology is not None and usage is not None else 0
        return float(_MAX_DEVICES - min(free, _MAX_DEVICES - 1))

    def raw_weights(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        # Hosts without a topology (most, in a cloud without PCI) need no call each.
        raw = self.raw_weight
        return [_NO_DEVICES if h.numa_topology is None else raw(h, spec) for h in hosts]
