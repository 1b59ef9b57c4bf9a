"""How many instances of a flavor fit right now, in total and per availability zone, aggregate, cell or host.

The count follows the path a real request takes: the request filters (disabled computes,
tenant and zone aggregates, image traits) shape the same placement query
``select_destinations`` would send; the enabled host filters run once over every registered
host; then each passing host's provider tree is counted against placement's provider graph
(one read) by placement's rules: ``(total - reserved) * allocation_ratio`` minus usage,
``min_unit``/``max_unit``/``step_size`` per allocation, required and forbidden traits,
aggregates, nested providers (the unsuffixed group takes each class from any provider of
the tree; a suffixed group takes all its classes from one) and sharing providers.

Exact means: the number of times the request could be claimed, one after another, before
placement refuses (the property test checks it by doing that). The count is exact when the
request groups do not compete for one class, with ``group_policy=isolate`` or
``same_subtree``, or when a host can draw one class both from its own tree and from a
sharing provider (or from two sharing providers): those are counted by placing greedily,
and the answer says ``"exact": false``. A sharing provider's room is split between the hosts
it serves in host order; the total is exact, the split is one way of reaching it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from allotment.client import PlacementClient
from allotment.scheduler.config import SchedulerConfig
from allotment.scheduler.filtering import run_filters
from allotment.scheduler.host_state import HostState
from allotment.scheduler.judge import judge_all, shape_key
from allotment.scheduler.placement_query import to_placement_query
from allotment.scheduler.plugins import HostFilter
from allotment.scheduler.provider_graph import GraphCache, Provider, ProviderGraph
from allotment.scheduler.query_groups import Group, Query, parse_query
from allotment.scheduler.registry import Registry
from allotment.scheduler.request_filters import RequestFilterContext, process_request_spec
from allotment.scheduler.spec import RequestSpec

__all__ = ["BY", "CapacityAnswer", "count_capacity"]

BY = ("az", "aggregate", "cell", "host")

_GREEDY_CAP = 100_000  # instances counted per host by the greedy path before it stops


@dataclass
class CapacityAnswer:
    total: int
    by: str | None
    groups: list[dict[str, Any]]  # {"key", "instances", "hosts"} per zone, aggregate, cell or host
    hosts: int  # registered hosts considered
    fitting_hosts: int  # hosts where at least one instance fits
    excluded: dict[str, Any]  # why hosts count 0: filters, placement constraints, unregistered trees
    exact: bool
    query: list[tuple[str, str]]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by": self.by, "groups": self.groups, "hosts": self.hosts,
                "fitting_hosts": self.fitting_hosts, "excluded": self.excluded, "exact": self.exact,
                "query": [list(p) for p in self.query], "timings": dict(self.timings)}


def count_capacity(placement: PlacementClient, registry: Registry, config: SchedulerConfig,
                   filters: Sequence[HostFilter], spec: RequestSpec, *, by: str | None = None,
                   graphs: GraphCache | None = None) -> CapacityAnswer:
    """How many instances like ``spec``'s one fit now; ``by`` groups them (one of ``BY``)."""
    if by is not None and by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    started = perf_counter()
    timings: dict[str, float] = {}
    constraints = process_request_spec(spec, RequestFilterContext(config, registry.all_aggregates()))
    spec = constraints.apply(spec)
    params = to_placement_query(spec, limit=None)
    query = parse_query(params)
    # Kept between questions: placement sends only what changed since the last one.
    graph = graphs.fetch(placement) if graphs is not None else ProviderGraph.from_json(placement.provider_graph())
    timings["placement_graph"] = perf_counter() - started
    roots = graph.host_roots
    states = registry.host_states(roots)
    timings["host_states"] = perf_counter() - started - timings["placement_graph"]

    mark = perf_counter()
    hosts = [states[r] for r in roots if r in states]
    for h in hosts:
        _fill(h, graph.trees[h.uuid])
    result = run_filters(filters, hosts, spec.for_instance("capacity-probe", spec.instance_group),
                         first_instance=True)
    passing = result.hosts
    removed_by_filters = {name: before - after for name, before, after in result.removed if before > after}
    timings["filtering"] = perf_counter() - mark

    mark = perf_counter()
    counter = _Counter(graph, query)
    classes = frozenset(rc for g in query.groups for rc in g.resources)
    memo: dict[Hashable, int] = {}
    per_host: dict[str, int] = {}
    for h in passing:
        key = shape_key(graph, h.uuid, classes)  # one-provider hosts alike count alike: count each shape once
        if key is None:
            per_host[h.uuid] = counter.local(h.uuid)
        else:
            n = memo.get(key)
            if n is None:
                n = memo[key] = counter.local(h.uuid)
            per_host[h.uuid] = n
    counter.share_pools(per_host, [h.uuid for h in passing])
    timings["counting"] = perf_counter() - mark

    ruled_out: dict[str, int] = defaultdict(int)
    for lacks in judge_all(graph, [h.uuid for h in passing if per_host[h.uuid] == 0], query).values():
        ruled_out[lacks[0].kind if lacks else "room"] += 1
    excluded: dict[str, Any] = {"filters": removed_by_filters, "placement": dict(ruled_out),
                                "unregistered_trees": len(roots) - len(hosts)}
    mark = perf_counter()
    groups = _group(hosts, per_host, by, config) if by else []  # hosts filtered out count 0 in their group
    timings["grouping"] = perf_counter() - mark
    timings["total"] = perf_counter() - started
    return CapacityAnswer(total=sum(per_host.values()), by=by, groups=groups, hosts=len(hosts),
                          fitting_hosts=sum(1 for n in per_host.values() if n), excluded=excluded,
                          exact=counter.exact, query=params, timings=timings)


def _fill(host: HostState, tree: list[Provider]) -> None:
    """The host's resource figures from its tree (as ``merge_candidates`` fills them from summaries)."""
    cap = {"VCPU": 0.0, "MEMORY_MB": 0.0, "DISK_GB": 0.0}
    used = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    for p in tree:
        for rc in cap:
            inv = p.inventories.get(rc)
            if inv is not None:
                cap[rc] += inv.capacity
                used[rc] += p.usages.get(rc, 0)
    host.vcpus_total, host.vcpus_used, host.cpu_allocation_ratio = int(cap["VCPU"]), used["VCPU"], 1.0
    host.total_usable_ram_mb, host.ram_allocation_ratio = int(cap["MEMORY_MB"]), 1.0
    host.free_ram_mb = int(cap["MEMORY_MB"]) - used["MEMORY_MB"]
    host.total_usable_disk_gb, host.disk_allocation_ratio = int(cap["DISK_GB"]), 1.0
    host.free_disk_mb = (int(cap["DISK_GB"]) - used["DISK_GB"]) * 1024


class _Counter:
    """Per host tree, the instances that fit; sharing providers' room handed out afterwards."""

    def __init__(self, graph: ProviderGraph, query: Query) -> None:
        self.graph = graph
        self.query = query
        self.groups = [g for g in query.groups if g.resources]
        classes = [rc for g in self.groups for rc in g.resources]
        self.independent = (len(classes) == len(set(classes)) and query.group_policy != "isolate"
                            and not query.same_subtree)
        self.exact = True
        # Per host: (sharing provider, class, amount per instance) it draws from.
        self.pool_needs: dict[str, list[tuple[Provider, str, int]]] = {}

    def local(self, root: str) -> int:
        """Instances the host's own tree takes (unbounded by classes it draws from one sharing provider)."""
        tree = self.graph.trees[root]
        top = tree[0]
        q = self.query
        if q.root_required - top.traits or q.root_forbidden & top.traits:
            return 0
        shared = self.graph.shared_with(root)
        if not self.independent:
            self.exact = False
            return _greedy(tree + shared, top, self.groups, q.group_policy == "isolate")
        bound: int | None = None
        needs: list[tuple[Provider, str, int]] = []
        for g in self.groups:
            n = self._group_room(g, tree, shared, top, needs)
            bound = n if bound is None else min(bound, n)
            if bound == 0:
                return 0
        if needs:
            self.pool_needs[root] = needs
        return bound if bound is not None else 0

    def _group_room(self, g: Group, tree: list[Provider], shared: list[Provider], top: Provider,
                    needs: list[tuple[Provider, str, int]]) -> int:
        if not _group_allowed(g, top, self.graph):
            return 0
        if g.suffix:
            # One provider holds the whole group: the sum over providers of what each can take.
            total = 0
            for p in tree + shared:
                if p.sharing and p.root != top.uuid:
                    # A sharing provider serves many hosts: only exact when it is the one source.
                    if not any(_serves(q, g, top) for q in tree) and _serves(p, g, top):
                        needs_all = [(p, rc, n) for rc, n in g.resources.items()]
                        needs.extend(needs_all)
                        return _UNBOUNDED
                    continue
                if _serves(p, g, top):
                    total += min(p.room(rc, n) for rc, n in g.resources.items())
            return total
        keep = self._trait_holders(g, tree + shared)
        if keep is None:
            return 0
        bound = _UNBOUNDED
        for rc, n in g.resources.items():
            own = [p for p in tree if rc in p.inventories and _serves_class(p, g, top) and keep(p)]
            pools = [p for p in shared if rc in p.inventories and _serves_class(p, g, top) and keep(p)]
            if own:
                if pools:
                    self.exact = False  # either source may be drawn from; counted from its own tree
                room = sum(p.room(rc, n) for p in own)
            elif len(pools) == 1:
                needs.append((pools[0], rc, n))
                room = _UNBOUNDED
            elif pools:
                self.exact = False
                room = sum(p.room(rc, n) for p in pools)
            else:
                room = 0
            bound = min(bound, room)
        return bound

    def _trait_holders(self, g: Group, pool: list[Provider]) -> Callable[[Provider], bool] | None:
        """Which providers may serve the unsuffixed group's classes, given its required traits.

        Placement wants the required traits on the providers an allocation uses, taken
        together. When every provider that can serve some class has them all, each
        allocation uses one of them and any provider may serve the other classes (exact).
        When no provider serving a class has a trait of one any-of set, nothing fits. In
        between, only providers with all the traits are counted and the answer is not exact.
        None: nothing fits.
        """
        if not g.required:
            return _anyone
        has_all = [p for p in pool if all(any_of & p.traits for any_of in g.required)
                   and any(rc in p.inventories for rc in g.resources)]
        if not has_all and len(g.required) == 1:
            return None
        for rc in g.resources:
            serving = [p for p in pool if rc in p.inventories and not (g.forbidden & p.traits)]
            if serving and all(p in has_all for p in serving):
                return _anyone
        self.exact = False
        held = {p.uuid for p in has_all}
        return lambda p: p.uuid in held

    def share_pools(self, per_host: dict[str, int], order: list[str]) -> None:
        """Hand each sharing provider's room to the hosts that draw on it, in host order."""
        left: dict[tuple[str, str], int] = {}
        for root in order:
            needs = self.pool_needs.get(root)
            if not needs:
                continue
            n = per_host[root]
            for pool, rc, amount in needs:
                key = (pool.uuid, rc)
                if key not in left:
                    left[key] = pool.room(rc, amount) * amount
                n = min(n, left[key] // amount)
            for pool, rc, amount in needs:
                left[(pool.uuid, rc)] -= n * amount
            per_host[root] = n
        for root, n in per_host.items():
            if n >= _UNBOUNDED:  # nothing in the request bounded it: no resources at all
                per_host[root] = 0


_UNBOUNDED = 1 << 62


def _group_allowed(g: Group, top: Provider, graph: ProviderGraph) -> bool:
    if g.in_tree is not None:
        target = graph.providers.get(g.in_tree)
        if target is None or target.root != top.uuid:
            return False
    return True


def _aggs(p: Provider, top: Provider) -> frozenset[str]:
    return p.aggregates | top.aggregates


def _serves(p: Provider, g: Group, top: Provider) -> bool:
    """Whether ``p`` alone may hold suffixed group ``g`` (classes, traits, aggregates)."""
    return (all(rc in p.inventories for rc in g.resources) and _traits_ok(p.traits, g)
            and _aggs_ok(_aggs(p, top), g))


def _anyone(p: Provider) -> bool:
    return True


def _serves_class(p: Provider, g: Group, top: Provider) -> bool:
    """Whether ``p`` may give a class to the unsuffixed group: no forbidden trait, aggregates allowed.

    Required traits are the allocation's as a whole (``_Counter._trait_holders``).
    """
    return not (g.forbidden & p.traits) and _aggs_ok(_aggs(p, top), g)


def _traits_ok(traits: frozenset[str], g: Group) -> bool:
    return all(any_of & traits for any_of in g.required) and not (g.forbidden & traits)


def _aggs_ok(aggs: frozenset[str], g: Group) -> bool:
    return all(wanted & aggs for wanted in g.member_of) and not (aggs & g.not_member_of)


def _greedy(pool: list[Provider], top: Provider, groups: list[Group], isolate: bool) -> int:
    """Place one instance after another (first provider that fits, group by group) until one does not fit."""
    taken: dict[tuple[str, str], int] = defaultdict(int)
    count = 0
    while count < _GREEDY_CAP:
        plan: list[tuple[Provider, str, int]] = []
        used_by_groups: set[str] = set()
        for g in groups:
            choice = _first_fit(pool, top, g, taken, plan, used_by_groups if isolate and g.suffix else set())
            if choice is None:
                return count
            plan += choice
            if g.suffix:
                used_by_groups |= {p.uuid for p, _, _ in choice}
        for p, rc, n in plan:
            taken[(p.uuid, rc)] += n
        count += 1
    return count


def _first_fit(pool: list[Provider], top: Provider, g: Group, taken: dict[tuple[str, str], int],
               plan: list[tuple[Provider, str, int]], avoid: set[str]) -> list[tuple[Provider, str, int]] | None:
    def extra(p: Provider, rc: str) -> int:
        return taken[(p.uuid, rc)] + sum(n for q, r, n in plan if q is p and r == rc)

    if g.suffix:
        for p in pool:
            if p.uuid in avoid or not _serves(p, g, top):
                continue
            if all(p.fits(rc, n, extra(p, rc)) for rc, n in g.resources.items()):
                return [(p, rc, n) for rc, n in g.resources.items()]
        return None
    out: list[tuple[Provider, str, int]] = []
    for rc, n in g.resources.items():
        found = next((p for p in pool if rc in p.inventories and _serves_class(p, g, top)
                      and p.fits(rc, n, extra(p, rc) + sum(m for q, r, m in out if q is p and r == rc))), None)
        if found is None:
            return None
        out.append((found, rc, n))
    held = frozenset().union(*(p.traits for p, _, _ in out))
    if not all(any_of & held for any_of in g.required):
        return None  # the allocation's providers together lack a required trait
    return out


def _group(hosts: list[HostState], per_host: dict[str, int], by: str,
           config: SchedulerConfig) -> list[dict[str, Any]]:
    keys: Callable[[HostState], list[str]]
    if by == "host":
        keys = lambda h: [h.host]  # noqa: E731
    elif by == "cell":
        keys = lambda h: [h.cell or "(none)"]  # noqa: E731
    elif by == "az":
        def keys(h: HostState) -> list[str]:
            zones = sorted({a.metadata["availability_zone"] for a in h.aggregates
                            if a.metadata.get("availability_zone")})
            return zones or [config.default_availability_zone]
    else:
        keys = lambda h: sorted(a.name for a in h.aggregates) or ["(none)"]  # noqa: E731
    totals: dict[str, list[int]] = {}
    # Hosts share their aggregates' records: the keys of one set of aggregates are worked out once.
    seen: dict[tuple[int, ...], list[str]] = {}
    for h in hosts:
        n = per_host.get(h.uuid, 0)
        if by in ("az", "aggregate"):
            marker = tuple(id(a) for a in h.aggregates)
            found = seen.get(marker)
            if found is None:
                found = seen[marker] = keys(h)
        else:
            found = keys(h)
        for key in found:
            acc = totals.setdefault(key, [0, 0])
            acc[0] += n
            acc[1] += 1 if n else 0
    return [{"key": k, "instances": v[0], "hosts": v[1]} for k, v in sorted(totals.items())]
