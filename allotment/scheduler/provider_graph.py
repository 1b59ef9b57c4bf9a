"""Placement's provider graph as the scheduler reads it for explanations and capacity answers.

Read once per question through ``PlacementClient.provider_graph()`` (one request to
allotment's placement, the standard routes against any other). Capacity rules are
placement's: an allocation of ``amount`` fits a provider when ``min_unit <= amount <=
max_unit``, ``amount`` is a multiple of ``step_size`` and ``used + amount <= (total -
reserved) * allocation_ratio``. A sharing provider (trait ``MISC_SHARES_VIA_AGGREGATE``)
serves every tree that has a provider in one of its aggregates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    __slots__ = ("uuid", "root", "parent", "inventories", "usages", "traits", "aggregates")

    def __init__(self, uuid: str, root: str, parent: str | None, inventories: dict[str, Inventory],
                 usages: dict[str, int], traits: frozenset[str], aggregates: frozenset[str]) -> None:
        self.uuid = uuid
        self.root = root
        self.parent = parent
        self.inventories = inventories
        self.usages = usages
        self.traits = traits
        self.aggregates = aggregates

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


@dataclass
class ProviderGraph:
    providers: dict[str, Provider]
    trees: dict[str, list[Provider]] = field(default_factory=dict)  # root uuid -> its providers, root first
    sharing: list[Provider] = field(default_factory=list)
    _shared_with: dict[str, list[Provider]] = field(default_factory=dict)

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

    @property
    def host_roots(self) -> list[str]:
        """Roots of the trees that are hosts: every tree but a lone sharing provider."""
        return [root for root, members in self.trees.items()
                if not (len(members) == 1 and members[0].sharing)]

    def shared_with(self, root: str) -> list[Provider]:
        """Sharing providers (outside the tree) that serve the tree of ``root``."""
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
