"""NUMATopologyFilter: the instance's NUMA cells, pinned CPUs, pages and PCI devices fit the host's topology.

Per allocation candidate, as Nova's filter does: a candidate whose PCI device providers
cannot satisfy the fit is dropped from the host's candidates, and a host with none left
is filtered out. Instances that ask for no NUMA topology pass.
"""

from __future__ import annotations

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.fit import fit_instance
from allotment.scheduler.topology.translate import allowed_devices, limits_of, request_of

__all__ = ["NUMATopologyFilter"]


class NUMATopologyFilter(HostFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        request = request_of(spec, self.config)
        if request.cells is None:
            return True
        topology, usage = host.numa_topology, host.numa_usage
        if topology is None or usage is None:
            return False
        if request.thread_policy == "require" and not topology.has_smt:
            return False
        limits = limits_of(host)
        pack = self.config.packing_host_numa_cells_allocation_strategy
        candidates = host.allocation_candidates or [{}]
        kept = [c for c in candidates
                if fit_instance(topology, usage, request, limits=limits, pack=pack,
                                allowed_devices=allowed_devices(request, c)) is not None]
        if host.allocation_candidates:
            host.allocation_candidates = kept
        return bool(kept)
