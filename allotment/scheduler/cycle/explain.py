"""Why nothing fits: the structured explanation a NoValidHost carries (REST body, CLI).

Computed only when a request is refused, from placement's provider graph (kept by the
scheduler, ``GraphCache.fetch``: one read of what changed since the last question) judged
against the very query placement got (``allotment.scheduler.judge``: hosts alike once),
the host filters' counts of the run that left no host, and every filter tried on each host
placement offered. Counts and nearest misses come out exactly as if every host had been
judged one by one, in the graph's order. What it holds:

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

import heapq
import logging
from collections import Counter
from collections.abc import Collection
from time import perf_counter
from typing import Any

from allotment.scheduler.cycle.select import instance_spec
from allotment.scheduler.cycle.state import Context, CycleState
from allotment.scheduler.errors import NoValidHost
from allotment.scheduler.judge import KINDS, REQUEST_LEVEL, Lack, judge_alike
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


Entries = list[tuple[list[Lack], Collection[str]]]  # lacks, and the roots that have exactly these


def explain(ctx: Context, state: CycleState) -> dict[str, Any]:
    query = _query(ctx, state)
    # The graph is kept between explanations; placement sends only what changed since.
    graph = (ctx.graphs.fetch(ctx.placement) if ctx.graphs is not None
             else ProviderGraph.from_json(ctx.placement.provider_graph()))
    entries: Entries = judge_alike(graph, query) if query is not None else []
    offered = {h.uuid: h for h in state.hosts}
    entries = _in_order(graph, state, _filter_lacks(ctx, state, entries))
    out: dict[str, Any] = {"hosts": len(graph.host_roots), "offered_by_placement": _offered_roots(state, graph)}
    if query is not None:
        out["groups"] = [{**g.to_dict(), **_counts(entries, g.suffix)} for g in query.groups if g.resources]
        if query.root_required or query.root_forbidden:
            out["request"] = {"root_required": sorted(query.root_required),
                              "root_forbidden": sorted(query.root_forbidden), **_counts(entries, REQUEST_LEVEL)}
    out["filters"] = [{"filter": name, "before": before, "after": after, "removed": before - after}
                      for name, before, after in state.refusing_filters]
    out["nearest_misses"] = _nearest(ctx, graph, entries, offered)
    return out


def _offered_roots(state: CycleState, graph: ProviderGraph) -> int:
    roots = set()
    for request in state.answer.get("allocation_requests") or ():
        for rp in request.get("allocations") or ():
            p = graph.providers.get(rp)
            if p is not None and not p.sharing:
                roots.add(p.root)
    return len(roots)


def _filter_lacks(ctx: Context, state: CycleState, entries: Entries) -> Entries:
    """Every host filter tried alone on each host placement offered; what the claims of this request took.

    Those hosts leave their entries for one each: their lacks are their own now.
    """
    if not state.hosts:
        return entries
    so_far = state.placed + state.chosen  # claimed one by one, or chosen for a batch
    index = min(len(so_far), len(state.instance_uuids) - 1)
    spec = instance_spec(state, index)
    placed = {p.host.uuid for p in so_far}
    offered = {h.uuid for h in state.hosts}
    own: dict[str, list[Lack]] = {}
    kept: Entries = []
    for found, roots in entries:
        mine = offered.intersection(roots)
        for root in mine:
            own[root] = list(found)
        rest = [r for r in roots if r not in mine] if mine else roots
        if rest:
            kept.append((found, rest))
    for host in state.hosts:
        found = own.setdefault(host.uuid, [])
        for f in ctx.filters:
            if not list(f.filter_all([host], spec)):
                found.append(Lack("filter", "", f.name(), f"removed by {f.name()}"))
        if not found and (host.uuid in state.refused or host.uuid in placed):
            what = "took an earlier instance of this request" if host.uuid in placed else "its claim was refused"
            found.append(Lack("taken", "", "", f"no room left: {what}"))
    return kept + [(found, (root,)) for root, found in own.items()]


def _in_order(graph: ProviderGraph, state: CycleState, entries: Entries) -> Entries:
    """Entries by the place of their first root in the graph (then hosts placement offered that it
    lacks): the order hosts were always counted in, which breaks ties between equal counts."""
    pos = graph.positions
    extra = {uuid: len(pos) + i for i, uuid in enumerate(h.uuid for h in state.hosts if h.uuid not in pos)}

    def first(roots: Collection[str]) -> int:
        if isinstance(roots, set):  # hosts alike: the graph knows
            return graph.ordered(roots, NEAREST * 4)[0]
        if len(roots) > 1:
            return min(map(pos.__getitem__, roots))
        root = next(iter(roots))
        return pos[root] if root in pos else extra[root]

    return sorted(entries, key=lambda e: first(e[1]))


def _counts(entries: Entries, group: str) -> dict[str, Any]:
    fit = 0
    ruled: dict[str, Counter[str]] = {}
    for found, roots in entries:
        first = next((lk for lk in found if lk.group == group and lk.kind in KINDS), None)
        if first is None:
            fit += len(roots)
            continue
        ruled.setdefault(first.kind, Counter())[first.item] += len(roots)
    return {"fit": fit, "ruled_out": {kind: {"hosts": sum(c.values()), "by": dict(c.most_common())}
                                      for kind in KINDS if (c := ruled.get(kind))}}


def _ranked(graph: ProviderGraph, entries: Entries, wanted: int) -> list[tuple[str, list[Lack]]]:
    """The ``wanted`` roots with the fewest lacks, then the smallest shortfall, then by uuid."""

    def least(roots: Collection[str], n: int) -> list[str]:
        return graph.ordered(roots, n)[1] if isinstance(roots, set) else heapq.nsmallest(n, roots)

    keyed = sorted((((len(found), sum(lk.shortfall for lk in found)), found, roots)
                    for found, roots in entries if found), key=lambda e: e[0])
    out: list[tuple[str, list[Lack]]] = []
    i = 0
    while i < len(keyed) and len(out) < wanted:
        j = i
        while j < len(keyed) and keyed[j][0] == keyed[i][0]:
            j += 1
        need = wanted - len(out)
        tied = [(root, found) for _, found, roots in keyed[i:j] for root in least(roots, need)]
        tied.sort(key=lambda t: t[0])
        out += tied[:need]
        i = j
    return out


def _nearest(ctx: Context, graph: ProviderGraph, entries: Entries, offered: dict[str, Any]) -> list[dict[str, Any]]:
    # Names come from the registry; read only the few hosts that may be shown (a tree it does
    # not know is shown too, as unregistered: the scheduler cannot place there).
    head = _ranked(graph, entries, NEAREST * 4)
    states = ctx.registry.host_states([root for root, _ in head]) if head else {}
    ranked_head: list[tuple[bool, int, float, str, dict[str, Any]]] = []
    for root, lacks in head:
        host = offered.get(root) or states.get(root)
        found = list(lacks)
        if host is None:
            found.append(Lack("unregistered", "", root, "not a registered host"))
        name = host.host if host is not None else None
        entry = {"host": name, "provider": root, "lacks": [lk.to_dict() for lk in found]}
        # Registered hosts first, then fewest lacks, smallest shortfall, and by name for ties.
        ranked_head.append((name is None, len(found), sum(lk.shortfall for lk in found), name or root, entry))
    ranked_head.sort(key=lambda r: r[:4])
    return [r[4] for r in ranked_head[:NEAREST]]
