"""NUMATopologyFilter: the instance's NUMA cells, pinned CPUs, pages and PCI devices fit the host's topology.

Per allocation candidate, as Nova's filter does: a candidate whose PCI device providers
cannot satisfy the fit is dropped from the host's candidates, and a host with none left
is filtered out. Instances that ask for no NUMA topology pass.

Fleets are built alike, so within one pass over the hosts the answer is remembered by
(topology shape, usage, allowed devices, ratios): a thousand empty hosts of one model cost
one fit, not a thousand.
"""

from __future__ import annotations

from typing import Any

from allotment.scheduler.host_state import HostState
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.spec import RequestSpec
from allotment.scheduler.topology.fit import fit_instance
from allotment.scheduler.topology.translate import allowed_addresses, allowed_devices, limits_of, request_of

__all__ = ["NUMATopologyFilter"]


class NUMATopologyFilter(HostFilter):
    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        memo: dict[Any, bool] = {}
        return [h for h in hosts if self._passes(h, spec, memo)]

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return self._passes(host, spec, {})

    def _passes(self, host: HostState, spec: RequestSpec, memo: dict[Any, bool]) -> bool:
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
        base = (topology.shape, usage.key(), limits)
        candidates = host.allocation_candidates or [{}]
        kept = []
        for candidate in candidates:
            allowed = allowed_devices(request, candidate)
            key = (base, allowed_addresses(host, allowed))
            fits = memo.get(key)
            if fits is None:
                fits = memo[key] = fit_instance(topology, usage, request, limits=limits, pack=pack,
                                                allowed_devices=allowed) is not None
            if fits:
                kept.append(candidate)
        if host.allocation_candidates:
            host.allocation_candidates = kept
        return bool(kept)
