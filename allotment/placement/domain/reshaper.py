"""The reshaper: replace inventories and allocations of several providers in one transaction.

Used when hardware is re-modelled (say VGPU inventory moving from a compute node
to child GPU providers) while consumers hold allocations against it. Order of
work, all in one transaction:

    check every named provider's generation
      -> interim inventory: current ∪ new on each provider, so moved allocations fit
      -> replace the consumers' allocations (the usual capacity-checked path)
      -> final inventory: exactly the new inventories (in-use classes cannot vanish)
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from allotment.placement import errors
from allotment.placement.domain import allocations, inventories, providers
from allotment.placement.domain.allocations import ConsumerAllocations
from allotment.placement.domain.exceptions import BadRequest, Conflict
from allotment.placement.domain.inventories import ProviderInventory

__all__ = ["reshape"]


def reshape(
    conn: Connection,
    new_inventories: dict[str, tuple[int, list[ProviderInventory]]],
    requests: list[ConsumerAllocations],
    defaults: tuple[str, str],
    *,
    allow_below_usage: bool = False,
) -> None:
    """``new_inventories``: provider uuid -> (generation the caller saw, its complete new inventory)."""
    for uuid, (generation, _) in new_inventories.items():
        provider = providers.find_provider(conn, uuid)
        if provider is None:
            raise BadRequest(
                f"Resource provider {uuid} in inventories not found: No resource provider with uuid {uuid} found",
                errors.RESOURCE_PROVIDER_NOT_FOUND,
            )
        if provider.generation != generation:
            raise Conflict(
                f"resource provider generation conflict for provider {uuid}: actual: {provider.generation}, "
                f"given: {generation}",
                errors.CONCURRENT_UPDATE,
            )
    for uuid, (_, invs) in new_inventories.items():
        if not invs:
            continue
        provider = providers.get_provider(conn, uuid)
        merged = {i.resource_class: i for i in inventories.list_inventories(conn, provider)}
        merged.update({i.resource_class: i for i in invs})
        # Interim: the moved allocations may still sit on the old classes, so no usage check yet.
        inventories.set_inventories(conn, provider, list(merged.values()), allow_below_usage=True)
    allocations.replace_allocations(conn, requests, defaults)
    for uuid, (_, invs) in new_inventories.items():
        inventories.set_inventories(conn, providers.get_provider(conn, uuid), invs, allow_below_usage=allow_below_usage)
