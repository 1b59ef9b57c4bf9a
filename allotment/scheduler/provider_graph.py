"""Placement's provider graph as the scheduler reads it for explanations and capacity answers.

Read through ``PlacementClient.provider_graph()`` (one request to allotment's placement,
the standard routes against any other); ``GraphCache.fetch`` keeps it between questions
and reads only what changed since (``GET /provider_graph?since=``). Capacity rules are
placement's: an allocation of ``amount`` fits a provider when ``min_unit <= amount <=
max_unit``, ``amount`` is a multiple of ``step_size`` and ``used + amount <= (total -
reserved) * allocation_ratio``. A sharing provider (trait ``MISC_SHARES_VIA_AGGREGATE``)
serves every tree that has a provider in one of its aggregates.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from allotment.client import PlacementClient

__all__ = ["SHARING_TRAIT", "GraphCache", "Inventory", "Provider", "ProviderGraph"]

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"


class Inventory:
    """One class's inventory on one provider; built positionally, as the graph carries it."""

    __slots__ = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio", "capacity")

    def __init__(self, total: int, reserved: int = 0, min_unit: int = 1, max_unit: int = 2147483647,
                 step_size: int = 1, allocation_ratio: float = 1.0) -> None:
        self.total = total
        self.reserved = reserved
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.step_size = step_size
        self.allocation_ratio = allocation_ratio
        self.capacity = (total - reserved) * allocation_ratio

    def accepts(self, amount: int) -> bool:
        """Whether one allocation of ``amount`` is allowed at all (units and step, not room)."""
        return self.min_unit <= amount <= self.max_unit and amount % self.step_size == 0


class Provider:
    __slots__ = ("uuid", "root", "parent", "inventories", "usages", "traits", "aggregates", "_signature")

    def __init__(self, uuid: str, root: str, parent: str | None, inventories: dict[str, Inventory],
                 usages: dict[str, int], traits: frozenset[str], aggregates: frozenset[str]) -> None:
        self.uuid = uuid
        self.root = root
        self.parent = parent
        self.inventories = inventories
        self.usages = usages
        self.traits = traits
        self.aggregates = aggregates
        self._signature: Hashable | None = None

    @property
    def signature(self) -> Hashable:
        """Everything a verdict on this provider alone can depend on (its uuid and links aside).

        Computed once per object: the cache keeps objects while placement's entry is unchanged.
        """
        sig = self._signature
        if sig is None:
            sig = self._signature = (
                tuple(sorted((rc, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, i.allocation_ratio,
                              self.usages.get(rc, 0)) for rc, i in self.inventories.items())),
                self.traits, self.aggregates)
        return sig

    @property
    def sharing(self) -> bool:
        return SHARING_TRAIT in self.traits

    def free(self, rc: str) -> float:
        inv = self.inventories.get(rc)
        return inv.capacity - self.usages.get(rc, 0) if inv is not None else 0.0

    def fits(self, rc: str, amount: int, taken: int = 0) -> bool:
        """Whether one more allocation of ``amount`` fits, with ``taken`` more already used."""
        inv = self.inventories.get(rc)
        return inv is not None and inv.accepts(amount) and self.usages.get(rc, 0) + taken + amount <= inv.capacity

    def room(self, rc: str, amount: int) -> int:
        """How many allocations of ``amount`` fit, one after another."""
        inv = self.inventories.get(rc)
        if inv is None or amount <= 0 or not inv.accepts(amount):
            return 0
        return max(0, int((inv.capacity - self.usages.get(rc, 0)) // amount))


class ProviderGraph:
    """One read of placement's graph. Never changed once built (``changed`` makes a new one), so
    threads may share it; what is derived from it is computed on first use and kept."""

    def __init__(self, providers: dict[str, Provider]) -> None:
        self.providers = providers
        self.trees: dict[str, list[Provider]] = {}  # root uuid -> its providers, root first
        self.sharing: list[Provider] = []
        self._shared_with: dict[str, list[Provider]] = {}
        self._host_roots: list[str] | None = None
        self._positions: dict[str, int] | None = None
        self._alike: dict[Hashable, set[str]] | None = None
        self._apart: list[str] | None = None
        self._ordered: dict[int, tuple[set[str], int, list[str]]] = {}  # id of an alike set -> see ordered()

    @classmethod
    def from_json(cls, entries: Iterable[Mapping[str, Any]], cache: GraphCache | None = None) -> ProviderGraph:
        """The graph of ``provider_graph()`` entries; ``cache`` keeps Provider objects between reads."""
        if cache is not None:
            return cache.graph(entries)
        providers: dict[str, Provider] = {}
        # Interned: 10,000 providers share a handful of trait and aggregate sets.
        sets: dict[tuple[str, ...], frozenset[str]] = {}
        for e in entries:
            providers[e["uuid"]] = _provider(e, sets)
        return cls.of(providers)

    @classmethod
    def of(cls, providers: dict[str, Provider]) -> ProviderGraph:
        graph = cls(providers)
        for p in providers.values():
            members = graph.trees.setdefault(p.root, [])
            if p.uuid == p.root:
                members.insert(0, p)
            else:
                members.append(p)
            if p.sharing:
                graph.sharing.append(p)
        return graph

    def changed(self, providers: Iterable[Provider], removed: Iterable[str]) -> ProviderGraph:
        """This graph with ``providers`` added or replaced and ``removed`` (uuids) deleted.

        The common change (usages, inventories or traits of a few hosts) keeps the shape of
        every tree and who shares with whom: then only the trees touched are rebuilt and what
        was derived is carried over; anything else builds the graph anew.
        """
        gone = [u for u in removed if u in self.providers]
        fresh = {p.uuid: p for p in providers}
        if gone or any(self._moves(p) for p in fresh.values()):
            merged = {u: p for u, p in self.providers.items() if u not in gone}
            merged.update(fresh)
            return ProviderGraph.of(merged)
        if not fresh:
            return self
        graph = ProviderGraph({**self.providers, **fresh})
        graph.trees = dict(self.trees)
        for root in {p.root for p in fresh.values()}:
            graph.trees[root] = [fresh.get(m.uuid, m) for m in self.trees[root]]
        graph.sharing = self.sharing
        graph._shared_with = self._shared_with  # no sharing provider changed: the lists still hold
        graph._host_roots = self._host_roots
        graph._positions = self._positions
        if self._alike is not None and self._apart is not None:
            alike = dict(self._alike)
            copied: set[Hashable] = set()
            apart = set(self._apart)
            for p in fresh.values():
                if p.uuid != p.root or p.root in apart or len(graph.trees[p.root]) != 1:
                    continue
                old, new = self.providers[p.uuid].signature, p.signature
                if old == new:
                    continue
                for sig in (old, new):
                    if sig not in copied:
                        alike[sig] = set(alike.get(sig, ()))
                        copied.add(sig)
                alike[old].discard(p.root)
                if not alike[old]:
                    del alike[old]
                alike[new].add(p.root)
            graph._alike, graph._apart = alike, self._apart
            live = {id(roots) for roots in alike.values()}
            graph._ordered = {k: v for k, v in self._ordered.items() if k in live}  # the sets left as they were
        return graph

    def _moves(self, p: Provider) -> bool:
        """Whether replacing the provider by ``p`` changes a tree's shape or the sharing."""
        old = self.providers.get(p.uuid)
        return (old is None or old.root != p.root or old.parent != p.parent or old.aggregates != p.aggregates
                or old.sharing or p.sharing)

    @property
    def host_roots(self) -> list[str]:
        """Roots of the trees that are hosts: every tree but a lone sharing provider."""
        if self._host_roots is None:
            self._host_roots = [root for root, members in self.trees.items()
                                if not (len(members) == 1 and members[0].sharing)]
        return self._host_roots

    @property
    def positions(self) -> dict[str, int]:
        """Each host root's place in ``host_roots``."""
        if self._positions is None:
            self._positions = {root: i for i, root in enumerate(self.host_roots)}
        return self._positions

    def alike(self) -> tuple[dict[Hashable, set[str]], list[str]]:
        """Host roots by what a verdict on them depends on, and those to judge one by one.

        A host that is a single provider served by no sharing provider is all its own
        ``Provider.signature``: hosts with equal signatures get equal verdicts (10,000 hosts
        have a few dozen). Other trees go apart.
        """
        if self._alike is None or self._apart is None:
            alike: dict[Hashable, set[str]] = {}
            apart: list[str] = []
            for root in self.host_roots:
                members = self.trees[root]
                if len(members) != 1 or self.shared_with(root):
                    apart.append(root)
                else:
                    alike.setdefault(members[0].signature, set()).add(root)
            self._alike, self._apart = alike, apart
        return self._alike, self._apart

    def ordered(self, roots: set[str], head: int) -> tuple[int, list[str]]:
        """For a set of ``alike``: the place of its first root in ``host_roots``, and its ``head``
        least uuids in order. Kept with the set (graphs made by ``changed`` keep the sets no change
        touched): over 10,000 hosts, finding them anew for every explanation cost more than judging.
        """
        found = self._ordered.get(id(roots))
        if found is None or found[0] is not roots or (len(found[2]) < head and len(found[2]) < len(roots)):
            pos = self.positions
            found = (roots, min(map(pos.__getitem__, roots)), heapq.nsmallest(head, roots))
            self._ordered[id(roots)] = found
        return found[1], found[2][:head]

    def shared_with(self, root: str) -> list[Provider]:
        """Sharing providers (outside the tree) that serve the tree of ``root``."""
        if not self.sharing:
            return []
        found = self._shared_with.get(root)
        if found is None:
            aggs: set[str] = set()
            for p in self.trees.get(root, ()):
                aggs |= p.aggregates
            found = [s for s in self.sharing if s.root != root and s.aggregates & aggs] if aggs else []
            self._shared_with[root] = found
        return found


class GraphCache:
    """Provider objects kept from one read of the graph to the next, while their entry is unchanged.

    Placement bumps a provider's generation with every change to its inventories, traits,
    aggregates, parent and allocations; the key adds parent and root (a tree re-rooted above
    a provider does not bump it). Only the JSON is read again: over 10,000 providers that
    changed little, building the objects was most of the cost.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[Any, ...], Provider] = {}
        self._token: str | None = None  # placement's name for ``_kept``
        self._kept: ProviderGraph | None = None

    def fetch(self, placement: PlacementClient) -> ProviderGraph:
        """Placement's graph now: only what changed since the last fetch is read, and applied to the
        graph kept from then (``GET /provider_graph?since=``); the whole graph when placement does
        not know our token any more (or has no token: the standard routes)."""
        with self._lock:
            token, kept = self._token, self._kept
        body = placement.provider_graph_since(token if kept is not None else None)
        if kept is not None and token is not None and body.get("since") == token:
            sets: dict[tuple[str, ...], frozenset[str]] = {}
            graph = kept.changed([_provider(e, sets) for e in body["providers"]], body.get("removed") or ())
        else:
            graph = self.graph(body["providers"])
        with self._lock:
            self._token, self._kept = body.get("token"), graph
        return graph

    def graph(self, entries: Iterable[Mapping[str, Any]]) -> ProviderGraph:
        with self._lock:
            known = self._by_key
        fresh: dict[tuple[Any, ...], Provider] = {}
        providers: dict[str, Provider] = {}
        sets: dict[tuple[str, ...], frozenset[str]] = {}
        for e in entries:
            uuid = e["uuid"]
            key = (uuid, e["generation"], e["parent_provider_uuid"], e["root_provider_uuid"])
            p = known.get(key)
            if p is None:
                p = _provider(e, sets)
            fresh[key] = p
            providers[uuid] = p
        with self._lock:
            self._by_key = fresh
        return ProviderGraph.of(providers)


def _provider(e: Mapping[str, Any], sets: dict[tuple[str, ...], frozenset[str]]) -> Provider:
    uuid = e["uuid"]
    traits = tuple(e["traits"])
    aggs = tuple(e["aggregates"])
    t = sets.get(traits)
    if t is None:
        t = sets[traits] = frozenset(traits)
    a = sets.get(aggs)
    if a is None:
        a = sets[aggs] = frozenset(aggs)
    return Provider(uuid, e["root_provider_uuid"] or uuid, e["parent_provider_uuid"],
                    {rc: Inventory(*inv) for rc, inv in e["inventories"].items()}, e["usages"], t, a)
