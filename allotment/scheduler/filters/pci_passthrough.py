"""PciPassthroughFilter: the host has free devices for every PCI request of the flavor's ``pci_passthrough:alias``.

Counts and kinds only (the NUMA filter checks affinity with the instance's cells), per
allocation candidate: a candidate whose device providers cannot serve the requests is
dropped, and a host with none left is filtered out.
"""

from __future__ import annotations

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.pci import select_devices
from allotment.scheduler.topology.translate import allowed_devices, request_of

__all__ = ["PciPassthroughFilter"]


class PciPassthroughFilter(HostFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        request = request_of(spec, self.config)
        if not request.pci:
            return True
        topology, usage = host.numa_topology, host.numa_usage
        if topology is None or usage is None:
            return False
        candidates = host.allocation_candidates or [{}]
        kept = [c for c in candidates
                if select_devices(topology, usage.devices, request.pci, None, allowed_devices(request, c)) is not None]
        if host.allocation_candidates:
            host.allocation_candidates = kept
        return bool(kept)
