"""Joining placement's allocation candidates with the registry's HostStates.

``merge_candidates`` takes the HostStates of the registered hosts (by root provider uuid,
from ``Registry.host_states``) and a GET /allocation_candidates answer (microversion 1.34
or later) and returns the hosts placement offered, in the order placement listed them,
each with its resource figures and the allocation requests it can take. ``candidate_hosts``
does the same while the HostStates are made (the scheduler's path: no second pass over them).

Resource figures are sums over the host's provider tree (root and descendants). Placement's
``capacity`` is already ``(total - reserved) * allocation_ratio``, so the allocation ratios
of the returned HostStates are set to 1.0: totals are usable capacity, and a filter or
weigher multiplying by a ratio must not apply it twice. Sharing providers (another root,
joined through an aggregate) are not counted in a host's figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from allotment.scheduler.host_state import HostState

__all__ = ["candidate_hosts", "merge_candidates", "tree_figures"]

LOG = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = {}


def merge_candidates(host_states: Mapping[str, HostState], candidates_json: Mapping[str, Any]) -> list[HostState]:
    """The registered hosts among the candidates, filled from the provider summaries, in placement's order.

    ``host_states`` maps root provider uuid -> HostState and is updated in place; candidates
    whose root is not a registered host are dropped.
    """
    root_of, figures = tree_figures(candidates_json.get("provider_summaries") or _EMPTY)
    roots: list[str] = []
    ordered = _in_request_order(host_states, candidates_json, root_of, roots)
    for root, host in zip(roots, ordered):
        vars(host).update(figures.get(root) or _figures(0, 0, 0, 0, 0, 0))
    return ordered


def candidate_hosts(build: Callable[[Mapping[str, Mapping[str, Any]]], Mapping[str, HostState]],
                    candidates_json: Mapping[str, Any]) -> list[HostState]:
    """``merge_candidates`` for fresh HostStates: ``build`` makes them with the figures already set.

    ``build`` gets root uuid -> HostState attributes (the tree's figures; not the allocation
    ratios, which a fresh HostState has at 1.0 already) and returns the
    registered hosts among those roots (``Registry.host_states(roots, figures=...)``): each
    HostState is made once with its final values, instead of made and then updated (the
    scheduler does this for up to 1,000 hosts per request).
    """
    root_of, sums = _tree_sums(candidates_json.get("provider_summaries") or _EMPTY)
    # Without the allocation ratios: a fresh HostState has them at 1.0 already (its defaults).
    figures = {root: {"vcpus_total": a[0], "vcpus_used": a[1], "total_usable_ram_mb": a[2],
                      "free_ram_mb": a[2] - a[3], "total_usable_disk_gb": a[4], "free_disk_mb": (a[4] - a[5]) * 1024}
               for root, a in sums.items()}
    return _in_request_order(build(figures), candidates_json, root_of)


def tree_figures(summaries: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The root of every summarised provider, and per root the HostState resource figures of its tree."""
    root_of, sums = _tree_sums(summaries)
    return root_of, {root: _figures(*acc) for root, acc in sums.items()}


def _tree_sums(summaries: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, list[int]]]:
    """The root of every summarised provider, and per root its tree's
    [vcpu capacity, vcpu used, ram capacity, ram used, disk capacity, disk used]."""
    root_of: dict[str, str] = {}
    sums: dict[str, list[int]] = {}
    for rp, summary in summaries.items():
        root = summary.get("root_provider_uuid") or rp
        root_of[rp] = root
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
    return root_of, sums


def _figures(vcpu_cap: int, vcpu_used: int, ram_cap: int, ram_used: int, disk_cap: int,
             disk_used: int) -> dict[str, Any]:
    return {"vcpus_total": vcpu_cap, "vcpus_used": vcpu_used, "cpu_allocation_ratio": 1.0,
            "total_usable_ram_mb": ram_cap, "free_ram_mb": ram_cap - ram_used, "ram_allocation_ratio": 1.0,
            "total_usable_disk_gb": disk_cap, "disk_allocation_ratio": 1.0,
            "free_disk_mb": (disk_cap - disk_used) * 1024}


def _in_request_order(host_states: Mapping[str, HostState], candidates_json: Mapping[str, Any],
                      root_of: Mapping[str, str], roots: list[str] | None = None) -> list[HostState]:
    """The hosts of ``host_states`` placement offered, first offered first, each with its allocation requests.

    ``roots``, when given, gets the key of each host returned, in the same order.
    """
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
            if roots is not None:
                roots.append(root)
            host.allocation_candidates = []
        host.allocation_candidates.append(request)
    if dropped and LOG.isEnabledFor(logging.DEBUG):
        LOG.debug("dropped candidates of %d root provider(s) not registered as hosts: %s",
                  len(dropped), ", ".join(sorted(dropped)[:10]))
    return ordered
