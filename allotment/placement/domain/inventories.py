"""Inventories of resource classes on providers, and the capacity rules they carry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement import errors
from allotment.placement.domain import names
from allotment.placement.domain.common import MAX_INT, now
from allotment.placement.domain.exceptions import BadRequest, Conflict, NotFound
from allotment.placement.domain.providers import Provider, bump_generation
from allotment.placement.store.tables import allocations, inventories
from allotment.placement.store.tables import resource_classes as rc_t

__all__ = [
    "DEFAULTS",
    "ProviderInventory",
    "capacity",
    "check_capacity",
    "delete_inventory",
    "list_inventories",
    "set_inventories",
    "update_inventory",
    "add_inventory",
]

DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1, "allocation_ratio": 1.0}
FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


@dataclass
class ProviderInventory:
    """The inventory of one resource class on one provider, as stored and as the API shows it."""

    resource_class: str
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in FIELDS}


def capacity(inv: ProviderInventory) -> float:
    return (inv.total - inv.reserved) * inv.allocation_ratio


def check_capacity(provider: Provider, invs: list[ProviderInventory], *, reserved_can_be_total: bool, action: str) -> None:
    """The capacity, ``int((total - reserved) * allocation_ratio)``, must be at least 1 (at least 0 from 1.26).

    Upstream's rule and message, which name the reserved value even when the
    allocation ratio is what brings the capacity down.
    """
    for inv in invs:
        room = int((inv.total - inv.reserved) * inv.allocation_ratio)
        if room < 0 or (room == 0 and not reserved_can_be_total):
            rule = "greater than total" if reserved_can_be_total else "greater than or equal to total"
            raise BadRequest(
                f"Unable to {action} inventory for resource provider {provider.uuid}: "
                f"Invalid inventory for '{inv.resource_class}' on resource provider '{provider.uuid}'. "
                f"The reserved value is {rule}."
            )


_INV_SELECT = sa.select(
    rc_t.c.name,
    inventories.c.total,
    inventories.c.reserved,
    inventories.c.min_unit,
    inventories.c.max_unit,
    inventories.c.step_size,
    inventories.c.allocation_ratio,
    inventories.c.created_at,
    inventories.c.updated_at,
).join(rc_t, rc_t.c.id == inventories.c.resource_class_id)


def list_inventories(conn: Connection, provider: Provider) -> list[ProviderInventory]:
    rows = conn.execute(
        _INV_SELECT.where(inventories.c.resource_provider_id == provider.id).order_by(rc_t.c.name)
    )
    return [ProviderInventory(*r) for r in rows]


def _used_by_class(conn: Connection, provider: Provider) -> dict[str, int]:
    rows = conn.execute(
        sa.select(rc_t.c.name, sa.func.sum(allocations.c.used))
        .join(rc_t, rc_t.c.id == allocations.c.resource_class_id)
        .where(allocations.c.resource_provider_id == provider.id)
        .group_by(rc_t.c.name)
    )
    return {name: int(used) for name, used in rows}


def _class_ids_or_fail(conn: Connection, invs: list[ProviderInventory], provider: Provider, template: str) -> dict[str, int]:
    ids = names.class_ids(conn, [i.resource_class for i in invs])
    for inv in invs:
        if inv.resource_class not in ids:
            raise BadRequest(template.format(uuid=provider.uuid, rc=inv.resource_class))
    return ids


def _refuse_below_usage(provider: Provider, invs: list[ProviderInventory], used: dict[str, int]) -> None:
    """An inventory may not shrink below what is already allocated from it."""
    for inv in invs:
        in_use = used.get(inv.resource_class, 0)
        if in_use and capacity(inv) < in_use:
            raise Conflict(
                f"update conflict: Inventory for '{inv.resource_class}' on resource provider '{provider.uuid}' "
                f"would have capacity {capacity(inv):g} but {in_use} is allocated.",
                errors.INVENTORY_INUSE,
            )


def set_inventories(
    conn: Connection, provider: Provider, invs: list[ProviderInventory], *, allow_below_usage: bool = False
) -> None:
    """Replace all of the provider's inventory with ``invs``; one generation bump."""
    ids = _class_ids_or_fail(
        conn,
        invs,
        provider,
        "Unknown resource class in inventory for resource provider {uuid}: No such resource class {rc}.",
    )
    current = {i.resource_class: i for i in list_inventories(conn, provider)}
    wanted = {i.resource_class: i for i in invs}
    to_delete = set(current) - set(wanted)
    used = _used_by_class(conn, provider)
    if not allow_below_usage:
        _refuse_below_usage(provider, invs, used)
    if to_delete:
        order = names.class_ids(conn, to_delete)
        busy = sorted((rc for rc in to_delete if used.get(rc)), key=lambda rc: order[rc])
        if busy:
            raise Conflict(
                f"update conflict: Inventory for '{', '.join(busy)}' on resource provider "
                f"'{provider.uuid}' in use.",
                errors.INVENTORY_INUSE,
            )
    bump_generation(conn, provider)
    stamp = now()
    if to_delete:
        del_ids = names.class_ids(conn, to_delete).values()
        conn.execute(
            inventories.delete().where(
                inventories.c.resource_provider_id == provider.id,
                inventories.c.resource_class_id.in_(list(del_ids)),
            )
        )
    for rc, inv in wanted.items():
        if rc in current:
            if current[rc].as_dict() != inv.as_dict():
                conn.execute(
                    inventories.update()
                    .where(
                        inventories.c.resource_provider_id == provider.id,
                        inventories.c.resource_class_id == ids[rc],
                    )
                    .values(**inv.as_dict(), updated_at=stamp)
                )
                inv.created_at, inv.updated_at = current[rc].created_at, stamp
            else:
                inv.created_at, inv.updated_at = current[rc].created_at, current[rc].updated_at
        else:
            conn.execute(
                inventories.insert().values(
                    resource_provider_id=provider.id, resource_class_id=ids[rc], created_at=stamp, **inv.as_dict()
                )
            )
            inv.created_at = stamp


def add_inventory(conn: Connection, provider: Provider, inv: ProviderInventory) -> None:
    """POST one inventory; a 409 if the class already has one."""
    rc_id = names.class_id(conn, inv.resource_class)
    if rc_id is None:
        raise BadRequest(
            f"Unable to create inventory for resource provider {provider.uuid}: "
            f"No such resource class {inv.resource_class}."
        )
    exists = conn.execute(
        sa.select(inventories.c.id).where(
            inventories.c.resource_provider_id == provider.id, inventories.c.resource_class_id == rc_id
        )
    ).first()
    if exists:
        raise Conflict(
            f"Update conflict: Inventory for {inv.resource_class} on resource provider {provider.uuid} "
            "already exists.",
            errors.CONCURRENT_UPDATE,
        )
    bump_generation(conn, provider)
    stamp = now()
    conn.execute(
        inventories.insert().values(
            resource_provider_id=provider.id, resource_class_id=rc_id, created_at=stamp, **inv.as_dict()
        )
    )
    inv.created_at = stamp


def update_inventory(
    conn: Connection, provider: Provider, inv: ProviderInventory, *, allow_below_usage: bool = False
) -> None:
    rc_id = names.class_id(conn, inv.resource_class)
    if rc_id is None:  # upstream: a 404 for the class, a 400 for a class the provider has no inventory of
        raise NotFound(f"No such resource class {inv.resource_class}.")
    row = conn.execute(
        sa.select(inventories.c.id, inventories.c.created_at).where(
            inventories.c.resource_provider_id == provider.id, inventories.c.resource_class_id == rc_id
        )
    ).first()
    if row is None:
        raise BadRequest(
            f"No inventory record with resource class for resource provider {provider.uuid}: "
            f"No inventory of class {inv.resource_class} found."
        )
    if not allow_below_usage:
        _refuse_below_usage(provider, [inv], _used_by_class(conn, provider))
    bump_generation(conn, provider)
    stamp = now()
    conn.execute(inventories.update().where(inventories.c.id == row.id).values(**inv.as_dict(), updated_at=stamp))
    inv.created_at, inv.updated_at = row.created_at, stamp


def delete_inventory(conn: Connection, provider: Provider, resource_class: str) -> None:
    prefix = f"No inventory of class {resource_class} found for delete: "
    rc_id = names.class_id(conn, resource_class)
    if rc_id is None:
        raise NotFound(f"{prefix}No such resource class {resource_class}.")
    row = conn.execute(
        sa.select(inventories.c.id).where(
            inventories.c.resource_provider_id == provider.id, inventories.c.resource_class_id == rc_id
        )
    ).first()
    if row is None:  # upstream repeats its own words here
        raise NotFound(f"{prefix}No inventory of class {resource_class} found for delete")
    if conn.execute(
        sa.select(sa.literal(1))
        .where(allocations.c.resource_provider_id == provider.id, allocations.c.resource_class_id == rc_id)
        .limit(1)
    ).first():
        raise Conflict(
            f"Unable to delete inventory of class {resource_class}: Inventory for '{resource_class}' on "
            f"resource provider '{provider.uuid}' in use.",
            errors.CONCURRENT_UPDATE,
        )
    bump_generation(conn, provider)
    conn.execute(inventories.delete().where(inventories.c.id == row.id))
