"""Joining placement's allocation candidates with the registry's HostStates.

``merge_candidates`` takes the HostStates of the registered hosts (by root provider uuid,
from ``Registry.host_states``) and a GET /allocation_candidates answer (microversion 1.34
or later) and returns the hosts placement offered, in the order placement listed them,
each with its resource figures and the allocation requests it can take.

Resource figures are sums over the host's provider tree (root and descendants). Placement's
``capacity`` is already ``(total - reserved) * allocation_ratio``, so the allocation ratios
of the returned HostStates are set to 1.0: totals are usable capacity, and a filter or
weigher multiplying by a ratio must not apply it twice. Sharing providers (another root,
joined through an aggregate) are not counted in a host's figures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from allotment.scheduler.host_state import HostState

__all__ = ["merge_candidates"]

LOG = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = {}


def merge_candidates(host_states: Mapping[str, HostState], candidates_json: Mapping[str, Any]) -> list[HostState]:
    """The registered hosts among the candidates, filled from the provider summaries, in placement's order.

    ``host_states`` maps root provider uuid -> HostState and is updated in place; candidates
    whose root is not a registered host are dropped.
    """
    summaries: Mapping[str, Any] = candidates_json.get("provider_summaries") or {}
    root_of: dict[str, str] = {}
    sums: dict[str, list[int]] = {}  # root -> [vcpu cap, vcpu used, ram cap, ram used, disk cap, disk used]
    for rp, summary in summaries.items():
        root = summary.get("root_provider_uuid") or rp
        root_of[rp] = root
        if root not in host_states:
            continue
        acc = sums.get(root)
        if acc is None:
            acc = sums[root] = [0, 0, 0, 0, 0, 0]
        resources = summary.get("resources") or _EMPTY
        # Unrolled over the three classes: this loop runs once per provider of up to 1,000 trees.
        r = resources.get("VCPU")
        if r is not None:
            acc[0] += r["capacity"]
            acc[1] += r["used"]
        r = resources.get("MEMORY_MB")
        if r is not None:
            acc[2] += r["capacity"]
            acc[3] += r["used"]
        r = resources.get("DISK_GB")
        if r is not None:
            acc[4] += r["capacity"]
            acc[5] += r["used"]

    ordered: list[HostState] = []
    seen: set[str] = set()
    dropped: set[str] = set()
    for request in candidates_json.get("allocation_requests") or ():
        host: HostState | None = None
        root = ""
        for rp in request["allocations"]:
            root = root_of.get(rp, rp)
            host = host_states.get(root)
            if host is not None:
                break  # the request's other providers are in this tree or shared with it
        if host is None:
            dropped.update(root_of.get(rp, rp) for rp in request["allocations"])
            continue
        if root not in seen:
            seen.add(root)
            ordered.append(host)
            host.allocation_candidates = []
            vcpu_cap, vcpu_used, ram_cap, ram_used, disk_cap, disk_used = sums.get(root, (0, 0, 0, 0, 0, 0))
            host.vcpus_total, host.vcpus_used, host.cpu_allocation_ratio = vcpu_cap, vcpu_used, 1.0
            host.total_usable_ram_mb, host.free_ram_mb, host.ram_allocation_ratio = ram_cap, ram_cap - ram_used, 1.0
            host.total_usable_disk_gb, host.disk_allocation_ratio = disk_cap, 1.0
            host.free_disk_mb = (disk_cap - disk_used) * 1024
        host.allocation_candidates.append(request)
    if dropped and LOG.isEnabledFor(logging.DEBUG):
        LOG.debug("dropped candidates of %d root provider(s) not registered as hosts: %s",
                  len(dropped), ", ".join(sorted(dropped)[:10]))
    return ordered
