"""PCIWeigher: keep hosts with PCI devices free for the instances that need them."""

from __future__ import annotations

from typing import ClassVar

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostWeigher
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.pci import free_devices

__all__ = ["PCIWeigher"]

_MAX_DEVICES = 100


class PCIWeigher(HostWeigher):
    """Hosts with fewer free PCI devices weigh more, as in Nova.

    An instance without PCI requests then avoids device hosts when it can; one with PCI
    requests (the filters already kept only hosts that can serve it) stacks onto the hosts
    with the fewest free devices, leaving whole device hosts for later requests.
    ``pci_weight_multiplier`` (default 1.0) scales it; 0 turns it off.
    """

    multiplier_option: ClassVar[str] = "pci_weight_multiplier"
    default_multiplier: ClassVar[float] = 1.0

    def raw_weight(self, host: HostState, spec: RequestSpec) -> float:
        topology, usage = host.numa_topology, host.numa_usage
        free = len(free_devices(topology, usage.devices)) if topology is not None and usage is not None else 0
        return float(_MAX_DEVICES - min(free, _MAX_DEVICES - 1))
