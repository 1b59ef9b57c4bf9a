"""The compute-side model of a host's providers, and syncing placement to match it.

A compute service describes its host as a ``ProviderTree`` (a root, nested children
such as NUMA nodes and GPUs, each with inventory, traits and aggregates) and calls
``update_from_provider_tree``. That reads placement's view of the same trees,
computes the minimal set of calls that makes placement match, and makes them:

    delete providers placement has but the tree lacks (deepest first)
      -> create missing providers (parents first)
      -> create missing CUSTOM_* resource classes and traits
      -> per provider: inventory, traits, aggregates, only where they differ

A generation conflict (someone else changed the provider) refreshes that provider
and retries. Inventory that must move between providers while consumers hold
allocations against it needs the reshaper: without ``allocations`` the sync raises
``ReshapeNeeded``; with them (the consumers' allocations as they should be after the
move) it does the whole change as one ``POST /reshaper``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from allotment.client.client import PlacementClient
from allotment.client.errors import GenerationConflict, NotFound
from allotment.client.models import Allocations, Inventory

__all__ = ["ProviderData", "ProviderTree", "ReshapeNeeded", "SyncReport", "update_from_provider_tree"]

MAX_CONFLICT_RETRIES = 5


@dataclass
class ProviderData:
    uuid: str
    name: str
    parent_uuid: str | None = None
    inventory: dict[str, Inventory] = field(default_factory=dict)
    traits: set[str] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)


class ProviderTree:
    """One or more provider trees, as the compute host sees them."""

    def __init__(self) -> None:
        self._providers: dict[str, ProviderData] = {}

    def new_root(self, name: str, uuid: str) -> ProviderData:
        return self._add(ProviderData(uuid, name))

    def new_child(self, name: str, parent_uuid: str, uuid: str) -> ProviderData:
        if parent_uuid not in self._providers:
            raise KeyError(f"no provider {parent_uuid} in the tree")
        return self._add(ProviderData(uuid, name, parent_uuid))

    def _add(self, data: ProviderData) -> ProviderData:
        if data.uuid in self._providers:
            raise ValueError(f"provider {data.uuid} already in the tree")
        if any(p.name == data.name for p in self._providers.values()):
            raise ValueError(f"provider name {data.name!r} already in the tree")
        self._providers[data.uuid] = data
        return data

    def remove(self, uuid: str) -> None:
        """Remove a provider and all its descendants."""
        for child in [p.uuid for p in self._providers.values() if p.parent_uuid == uuid]:
            self.remove(child)
        del self._providers[uuid]

    def get(self, uuid: str) -> ProviderData:
        return self._providers[uuid]

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._providers

    def __iter__(self) -> Iterator[ProviderData]:
        """Parents before their children."""
        done: set[str] = set()
        pending = list(self._providers.values())
        while pending:
            rest = []
            for p in pending:
                if p.parent_uuid is None or p.parent_uuid in done:
                    done.add(p.uuid)
                    yield p
                else:
                    rest.append(p)
            pending = rest

    def roots(self) -> list[ProviderData]:
        return [p for p in self._providers.values() if p.parent_uuid is None]

    def update_inventory(self, uuid: str, inventory: Mapping[str, Inventory]) -> None:
        self._providers[uuid].inventory = dict(inventory)

    def update_traits(self, uuid: str, traits: set[str]) -> None:
        self._providers[uuid].traits = set(traits)

    def update_aggregates(self, uuid: str, aggregates: set[str]) -> None:
        self._providers[uuid].aggregates = set(aggregates)


class ReshapeNeeded(Exception):
    """Inventory with allocations against it would vanish; call again with the moved allocations."""

    def __init__(self, moves: dict[str, dict[str, int]]) -> None:
        super().__init__(f"inventory in use would be removed: {moves}")
        self.moves = moves  # provider uuid -> {resource class: amount in use}


@dataclass
class SyncReport:
    """The write calls one sync made (reads are not counted)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    inventories: list[str] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)
    aggregates: list[str] = field(default_factory=list)
    new_classes: list[str] = field(default_factory=list)
    new_traits: list[str] = field(default_factory=list)
    reshaped: bool = False
    conflicts_retried: int = 0

    @property
    def writes(self) -> int:
        return (len(self.created) + len(self.updated) + len(self.deleted) + len(self.inventories) + len(self.traits)
                + len(self.aggregates) + len(self.new_classes) + len(self.new_traits) + int(self.reshaped))


@dataclass
class _Remote:
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    inventory: dict[str, Inventory]
    traits: set[str]
    aggregates: set[str]
    usages: dict[str, int]


def _read(client: PlacementClient, uuid: str) -> _Remote:
    p = client.get_provider(uuid)
    _, inventory = client.get_inventories(uuid)
    _, traits = client.get_provider_traits(uuid)
    generation, aggregates = client.get_aggregates(uuid)
    return _Remote(uuid, p.name, generation, p.parent_provider_uuid, inventory, set(traits), set(aggregates),
                   client.provider_usages(uuid))


def _remote_trees(client: PlacementClient, tree: ProviderTree) -> dict[str, _Remote]:
    remote: dict[str, _Remote] = {}
    for root in tree.roots():
        for p in client.list_providers(in_tree=root.uuid):
            remote[p.uuid] = _read(client, p.uuid)
    for local in tree:  # providers that placement holds elsewhere (e.g. moved between trees)
        if local.uuid not in remote:
            try:
                remote[local.uuid] = _read(client, local.uuid)
            except NotFound:
                pass
    return remote


def _depth(remote: Mapping[str, _Remote], uuid: str) -> int:
    depth, current = 0, remote[uuid].parent_uuid
    while current is not None and current in remote:
        depth, current = depth + 1, remote[current].parent_uuid
    return depth


def update_from_provider_tree(
    client: PlacementClient,
    tree: ProviderTree,
    *,
    allocations: Mapping[str, Allocations] | None = None,
) -> SyncReport:
    """Make placement match ``tree``; ``allocations`` (consumer -> allocations) enable a reshape."""
    report = SyncReport()
    remote = _remote_trees(client, tree)

    # Inventory that would vanish from under allocations needs a reshape.
    moves: dict[str, dict[str, int]] = {}
    for p in tree:
        r = remote.get(p.uuid)
        if r is None:
            continue
        for rc, used in r.usages.items():
            want = p.inventory.get(rc)
            if used and (want is None or (want.total - want.reserved) * want.allocation_ratio < used):
                moves.setdefault(p.uuid, {})[rc] = used
    gone_with_usage = {u: {rc: n for rc, n in r.usages.items() if n} for u, r in remote.items() if u not in tree}
    moves.update({u: m for u, m in gone_with_usage.items() if m})
    if moves and allocations is None:
        raise ReshapeNeeded(moves)

    # Names placement must know before anything refers to them.
    wanted_classes = {rc for p in tree for rc in p.inventory if rc.startswith("CUSTOM_")}
    missing_classes = wanted_classes - set(client.list_resource_classes())
    for rc in sorted(missing_classes):
        client.ensure_resource_class(rc)
        report.new_classes.append(rc)
    wanted_traits = {t for p in tree for t in p.traits if t.startswith("CUSTOM_")}
    if wanted_traits:
        missing_traits = wanted_traits - set(client.list_traits(prefix="CUSTOM_"))
        for t in sorted(missing_traits):
            client.ensure_trait(t)
            report.new_traits.append(t)

    # Create missing providers, parents first; re-parent moved ones.
    for p in tree:
        r = remote.get(p.uuid)
        if r is None:
            client.create_provider(p.name, p.uuid, p.parent_uuid)
            report.created.append(p.uuid)
            remote[p.uuid] = _Remote(p.uuid, p.name, 0, p.parent_uuid, {}, set(), set(), {})
        elif r.parent_uuid != p.parent_uuid or r.name != p.name:
            moved = client.update_provider(p.uuid, p.name, p.parent_uuid)
            r.parent_uuid, r.name, r.generation = p.parent_uuid, p.name, moved.generation
            report.updated.append(p.uuid)

    if moves:
        _reshape(client, tree, remote, allocations or {}, report)
    else:
        for p in tree:
            _sync_provider(client, p, remote[p.uuid], report)

    # Delete what the tree no longer has, deepest first (allocations were moved by the reshape).
    doomed = sorted((u for u in remote if u not in tree), key=lambda u: -_depth(remote, u))
    for uuid in doomed:
        client.delete_provider(uuid)
        report.deleted.append(uuid)
    return report


def _sync_provider(client: PlacementClient, want: ProviderData, have: _Remote, report: SyncReport) -> None:
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        try:
            if have.inventory != want.inventory:
                have.generation = client.set_inventories(want.uuid, have.generation, want.inventory)
                have.inventory = dict(want.inventory)
                report.inventories.append(want.uuid)
            if have.traits != want.traits:
                have.generation = client.set_provider_traits(want.uuid, have.generation, sorted(want.traits))
                have.traits = set(want.traits)
                report.traits.append(want.uuid)
            if have.aggregates != want.aggregates:
                have.generation = client.set_aggregates(want.uuid, have.generation, sorted(want.aggregates))
                have.aggregates = set(want.aggregates)
                report.aggregates.append(want.uuid)
            return
        except GenerationConflict:
            if attempt == MAX_CONFLICT_RETRIES:
                raise
            report.conflicts_retried += 1
            fresh = _read(client, want.uuid)
            have.generation, have.inventory = fresh.generation, fresh.inventory
            have.traits, have.aggregates = fresh.traits, fresh.aggregates


def _reshape(
    client: PlacementClient,
    tree: ProviderTree,
    remote: dict[str, _Remote],
    allocations: Mapping[str, Allocations],
    report: SyncReport,
) -> None:
    """Inventories of every provider whose inventory changes, plus the moved allocations, in one call."""
    inventories = {
        p.uuid: (remote[p.uuid].generation, p.inventory)
        for p in tree
        if remote[p.uuid].inventory != p.inventory
    }
    for uuid, r in remote.items():
        if uuid not in tree and r.inventory:
            inventories[uuid] = (r.generation, {})
    client.reshape(inventories, allocations)
    report.reshaped = True
    report.inventories.extend(inventories)
    for p in tree:  # inventories are done; traits and aggregates may still differ
        fresh = _read(client, p.uuid)
        _sync_provider(client, p, fresh, report)
