"""Why nothing fits: the structured explanation a NoValidHost carries (REST body, CLI).

Computed only when a request is refused, from placement's provider graph (one read,
``PlacementClient.provider_graph``) judged against the very query placement got
(``allotment.scheduler.judge``), the host filters' counts of the run that left no host,
and every filter tried on each host placement offered. What it holds:

* ``groups``: per request group, how many hosts (provider trees) could serve it (``fit``)
  and how many were ruled out, by kind (resource class, amount, required or forbidden
  trait, aggregate, tree shape) and by the class, trait or aggregate concerned; each tree
  counts once per group, under the first thing it lacks;
* ``request``: the same for request-level root traits (a disabled host is a root with the
  forbidden trait ``COMPUTE_STATUS_DISABLED``);
* ``filters``: how many hosts each host filter removed;
* ``nearest_misses``: the three hosts closest to fitting and everything each lacks.

An explanation that cannot be built (placement unreachable by then, say) is left out:
the refusal itself is never lost to it.
"""

from __future__ import annotations

import logging
from collections import Counter
from time import perf_counter
from typing import Any

from allotment.scheduler.cycle.select import instance_spec
from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.judge import KINDS, REQUEST_LEVEL, Lack, judge_all
from allotment.scheduler.placement_query import to_placement_query
from allotment.scheduler.provider_graph import ProviderGraph
from allotment.scheduler.query_groups import Query, parse_query

__all__ = ["NEAREST", "attach", "explain"]

LOG = logging.getLogger(__name__)

NEAREST = 3


def attach(ctx: Context, state: CycleState, exc: NoValidHost) -> None:
    """Set ``exc.explanation`` (None when it cannot be built; the refusal stands either way)."""
    started = perf_counter()
    try:
        exc.explanation = explain(ctx, state)
        exc.explanation["explain_ms"] = round((perf_counter() - started) * 1000, 3)  # what explaining cost
    except Exception:  # noqa: BLE001 - a refusal must never turn into a 500 because of its explanation
        LOG.warning("could not explain the refusal of reservation %s", state.reservation, exc_info=True)


def _query(ctx: Context, state: CycleState) -> Query | None:
    params = state.query
    if not params:  # refused before the query was made (request filter, unknown forced host)
        try:
            params = to_placement_query(state.spec, limit=None)
        except Exception:  # noqa: BLE001 - then there is no query to judge against
            return None
    return parse_query(params)


def explain(ctx: Context, state: CycleState) -> dict[str, Any]:
    query = _query(ctx, state)
    graph = ProviderGraph.from_json(ctx.placement.provider_graph(), ctx.graphs)
    roots = graph.host_roots
    lacks: dict[str, list[Lack]] = judge_all(graph, roots, query) if query is not None else {}
    offered = {h.uuid: h for h in state.hosts}
    _filter_lacks(ctx, state, lacks)
    out: dict[str, Any] = {"hosts": len(roots), "offered_by_placement": _offered_roots(state, graph)}
    if query is not None:
        out["groups"] = [{**g.to_dict(), **_counts(lacks, g.suffix)} for g in query.groups if g.resources]
        if query.root_required or query.root_forbidden:
            out["request"] = {"root_required": sorted(query.root_required),
                              "root_forbidden": sorted(query.root_forbidden), **_counts(lacks, REQUEST_LEVEL)}
    out["filters"] = [{"filter": name, "before": before, "after": after, "removed": before - after}
                      for name, before, after in state.refusing_filters]
    out["nearest_misses"] = _nearest(ctx, lacks, offered)
    return out


def _offered_roots(state: CycleState, graph: ProviderGraph) -> int:
    roots = set()
    for request in state.answer.get("allocation_requests") or ():
        for rp in request.get("allocations") or ():
            p = graph.providers.get(rp)
            if p is not None and not p.sharing:
                roots.add(p.root)
    return len(roots)


def _filter_lacks(ctx: Context, state: CycleState, lacks: dict[str, list[Lack]]) -> None:
    """Every host filter tried alone on each host placement offered; what the claims of this request took."""
    if not state.hosts:
        return
    index = min(len(state.placed), len(state.instance_uuids) - 1)
    spec = instance_spec(state, index)
    placed = {p.host.uuid for p in state.placed}
    for host in state.hosts:
        found = lacks.setdefault(host.uuid, [])
        for f in ctx.filters:
            if not list(f.filter_all([host], spec)):
                found.append(Lack("filter", "", f.name(), f"removed by {f.name()}"))
        if not found and (host.uuid in state.refused or host.uuid in placed):
            what = "took an earlier instance of this request" if host.uuid in placed else "its claim was refused"
            found.append(Lack("taken", "", "", f"no room left: {what}"))


def _counts(lacks: dict[str, list[Lack]], group: str) -> dict[str, Any]:
    fit = 0
    ruled: dict[str, Counter[str]] = {}
    for found in lacks.values():
        first = next((lk for lk in found if lk.group == group and lk.kind in KINDS), None)
        if first is None:
            fit += 1
            continue
        ruled.setdefault(first.kind, Counter())[first.item] += 1
    return {"fit": fit, "ruled_out": {kind: {"hosts": sum(c.values()), "by": dict(c.most_common())}
                                      for kind in KINDS if (c := ruled.get(kind))}}


def _nearest(ctx: Context, lacks: dict[str, list[Lack]], offered: dict[str, Any]) -> list[dict[str, Any]]:
    ranked = sorted(((len(found), sum(lk.shortfall for lk in found), root) for root, found in lacks.items() if found))
    # Names come from the registry; read only the few hosts that may be shown (a tree it does
    # not know is shown too, as unregistered: the scheduler cannot place there).
    head = [root for _, _, root in ranked[:NEAREST * 4]]
    states = ctx.registry.host_states(head) if head else {}
    ranked_head: list[tuple[bool, int, float, str, dict[str, Any]]] = []
    for root in head:
        host = offered.get(root) or states.get(root)
        found = list(lacks[root])
        if host is None:
            found.append(Lack("unregistered", "", root, "not a registered host"))
        name = host.host if host is not None else None
        entry = {"host": name, "provider": root, "lacks": [lk.to_dict() for lk in found]}
        # Registered hosts first, then fewest lacks, smallest shortfall, and by name for ties.
        ranked_head.append((name is None, len(found), sum(lk.shortfall for lk in found), name or root, entry))
    ranked_head.sort(key=lambda r: r[:4])
    return [r[4] for r in ranked_head[:NEAREST]]
