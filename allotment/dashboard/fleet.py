"""What the dashboard shows, read through the clients: provider trees, usage per host, zones, capacity per flavor.

Placement is read with one call per provider for inventories and usages (and one for
traits): fine for the hundreds of hosts a page can show, slow at thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allotment.client import PlacementClient
from allotment.client.models import Inventory
from allotment.scheduler.client import SchedulerClient

__all__ = ["DISABLED_TRAIT", "NO_ZONE", "FlavorSize", "Node", "Snapshot", "capacity", "snapshot"]

DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
NO_ZONE = "(no zone)"


@dataclass(frozen=True)
class FlavorSize:
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int = 0

    def resources(self) -> dict[str, int]:
        wanted = {"VCPU": self.vcpus, "MEMORY_MB": self.memory_mb, "DISK_GB": self.disk_gb}
        return {rc: n for rc, n in wanted.items() if n > 0}

    @classmethod
    def parse(cls, text: str) -> FlavorSize:
        """``name:vcpus:memory_mb[:disk_gb]``; ValueError with the reason otherwise."""
        parts = text.split(":")
        if len(parts) not in (3, 4) or not parts[0]:
            raise ValueError(f"{text!r}: expected name:vcpus:memory_mb[:disk_gb]")
        try:
            numbers = [int(p) for p in parts[1:]]
        except ValueError:
            raise ValueError(f"{text!r}: vcpus, memory_mb and disk_gb are whole numbers") from None
        if any(n < 0 for n in numbers) or not any(numbers):
            raise ValueError(f"{text!r}: sizes are zero or more, and not all zero")
        return cls(parts[0], *numbers)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "vcpus": self.vcpus, "memory_mb": self.memory_mb, "disk_gb": self.disk_gb}


DEFAULT_FLAVORS = (FlavorSize("m1.small", 1, 2048, 20), FlavorSize("m1.medium", 2, 4096, 40),
                   FlavorSize("m1.large", 4, 8192, 80))


@dataclass
class Node:
    """One provider with its inventories, usage and children."""

    uuid: str
    name: str
    parent: str | None
    inventories: dict[str, Inventory]
    usages: dict[str, int]
    traits: list[str]
    aggregates: list[str]
    children: list[Node] = field(default_factory=list)

    def capacity(self, rc: str) -> float:
        inv = self.inventories[rc]
        return (inv.total - inv.reserved) * inv.allocation_ratio

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "name": self.name, "traits": self.traits, "aggregates": self.aggregates,
            "resources": {
                rc: {"total": inv.total, "reserved": inv.reserved, "allocation_ratio": inv.allocation_ratio,
                     "min_unit": inv.min_unit, "max_unit": inv.max_unit, "step_size": inv.step_size,
                     "capacity": self.capacity(rc), "used": self.usages.get(rc, 0)}
                for rc, inv in sorted(self.inventories.items())
            },
            "children": [c.to_dict() for c in self.children],
        }


@dataclass
class Host:
    """A root provider, with the scheduler's view of it when there is one."""

    root: Node
    zone: str = NO_ZONE
    registered: bool = False
    disabled: bool = False

    @property
    def name(self) -> str:
        return self.root.name

    def totals(self) -> dict[str, dict[str, float]]:
        """Per class over the tree: capacity and used."""
        out: dict[str, dict[str, float]] = {}
        for node in self.root.walk():
            for rc in node.inventories:
                entry = out.setdefault(rc, {"capacity": 0.0, "used": 0.0})
                entry["capacity"] += node.capacity(rc)
                entry["used"] += node.usages.get(rc, 0)
        return out


@dataclass
class Snapshot:
    hosts: list[Host]

    def trees(self) -> list[dict[str, Any]]:
        return [{**h.root.to_dict(), "zone": h.zone, "disabled": h.disabled, "registered": h.registered}
                for h in self.hosts]

    def heatmap(self) -> dict[str, Any]:
        """Hosts by resource class: used / capacity over each host's tree."""
        classes = sorted({rc for h in self.hosts for rc in h.totals()})
        rows = []
        for h in self.hosts:
            totals = h.totals()
            cells = {}
            for rc in classes:
                t = totals.get(rc)
                cells[rc] = None if t is None else {
                    "used": t["used"], "capacity": t["capacity"],
                    "ratio": (t["used"] / t["capacity"]) if t["capacity"] else 0.0}
            rows.append({"host": h.name, "zone": h.zone, "disabled": h.disabled, "cells": cells})
        return {"classes": classes, "hosts": rows}


def snapshot(placement: PlacementClient, scheduler: SchedulerClient | None = None) -> Snapshot:
    providers = placement.list_providers()
    nodes: dict[str, Node] = {}
    for p in providers:
        _, inventories = placement.get_inventories(p.uuid)
        _, traits = placement.get_provider_traits(p.uuid)
        _, aggregates = placement.get_aggregates(p.uuid)
        nodes[p.uuid] = Node(p.uuid, p.name, p.parent_provider_uuid, inventories, placement.provider_usages(p.uuid),
                             sorted(traits), sorted(aggregates))
    roots = []
    for node in sorted(nodes.values(), key=lambda n: n.name):
        parent = nodes.get(node.parent) if node.parent else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    zone_of: dict[str, str] = {}
    registered: dict[str, bool] = {}  # provider uuid -> disabled
    if scheduler is not None:
        for agg in scheduler.list_aggregates():
            zone = agg.metadata.get("availability_zone")
            if zone:
                for member in agg.hosts:
                    zone_of.setdefault(member, zone)
        by_name = {h.name: h for h in scheduler.list_hosts()}
        for h in by_name.values():
            registered[h.provider_uuid] = h.disabled
        zone_of = {by_name[n].provider_uuid: z for n, z in zone_of.items() if n in by_name}
    hosts = [Host(root=r, zone=zone_of.get(r.uuid, NO_ZONE), registered=r.uuid in registered,
                  disabled=registered.get(r.uuid, False) or DISABLED_TRAIT in r.traits) for r in roots]
    return Snapshot(hosts)


def _fits(node: Node, rc: str, amount: int) -> int:
    """How many allocations of ``amount`` of ``rc`` the provider can still take."""
    inv = node.inventories[rc]
    if amount < inv.min_unit or amount > inv.max_unit or amount % inv.step_size:
        return 0
    free = node.capacity(rc) - node.usages.get(rc, 0)
    return max(int(free // amount), 0)


def instances_on(host: Host, flavor: FlavorSize) -> int:
    """How many more instances of ``flavor`` the host takes, each class from one provider of its tree.

    Per class the best provider of the tree counts (a host whose VCPU is split over two NUMA
    nodes is counted on the larger one): a lower bound where a flavor could span providers.
    """
    fits = None
    for rc, amount in flavor.resources().items():
        best = max((_fits(n, rc, amount) for n in host.root.walk() if rc in n.inventories), default=0)
        fits = best if fits is None else min(fits, best)
    return fits or 0


def capacity(snap: Snapshot, flavors: list[FlavorSize]) -> dict[str, Any]:
    """Per flavor and zone: how many more instances fit, and on how many hosts (disabled hosts left out).

    Computed here from placement's inventories and usages. A scheduler that answers
    ``GET /capacity`` (filters and traits honoured) is the better source: see ``app.Capacity``.
    """
    zones = sorted({h.zone for h in snap.hosts})
    rows = []
    for flavor in flavors:
        per_zone: dict[str, dict[str, int]] = {z: {"instances": 0, "hosts": 0} for z in zones}
        for h in snap.hosts:
            if h.disabled:
                continue
            n = instances_on(h, flavor)
            per_zone[h.zone]["instances"] += n
            per_zone[h.zone]["hosts"] += 1 if n else 0
        rows.append({"flavor": flavor.to_dict(), "zones": per_zone,
                     "total": sum(z["instances"] for z in per_zone.values())})
    return {"zones": zones, "flavors": rows, "source": "placement usages"}
