"""Fleet totals per resource class, overall and per aggregate: what a capacity exporter reports.

Capacity is ``(total - reserved) * allocation_ratio`` per inventory, as everywhere in
placement. A nested provider (a NUMA node, a GPU) counts in the aggregates of its tree's
root, where the host's aggregates are.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement.store.tables import (
    aggregates,
    allocations,
    inventories,
    provider_aggregates,
    providers,
    resource_classes,
)

__all__ = ["ClassTotals", "fleet_totals"]


@dataclass
class ClassTotals:
    resource_class: str
    aggregate: str | None  # None: the whole fleet
    total: int = 0
    reserved: int = 0
    capacity: float = 0.0
    used: int = 0
    providers: int = 0


def fleet_totals(conn: Connection) -> list[ClassTotals]:
    """One ``ClassTotals`` per resource class with inventory, then one per (aggregate, class)."""
    used = (
        sa.select(allocations.c.resource_provider_id.label("rp"), allocations.c.resource_class_id.label("rc"),
                  sa.func.sum(allocations.c.used).label("used"))
        .group_by(allocations.c.resource_provider_id, allocations.c.resource_class_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            resource_classes.c.name, inventories.c.total, inventories.c.reserved, inventories.c.allocation_ratio,
            sa.func.coalesce(used.c.used, 0), sa.func.coalesce(providers.c.root_provider_id, providers.c.id),
        )
        .select_from(
            inventories.join(resource_classes, resource_classes.c.id == inventories.c.resource_class_id)
            .join(providers, providers.c.id == inventories.c.resource_provider_id)
            .outerjoin(used, sa.and_(used.c.rp == inventories.c.resource_provider_id,
                                     used.c.rc == inventories.c.resource_class_id))
        )
    ).all()
    memberships: dict[int, list[str]] = {}
    for root, agg in conn.execute(
        sa.select(provider_aggregates.c.resource_provider_id, aggregates.c.uuid)
        .join(aggregates, aggregates.c.id == provider_aggregates.c.aggregate_id)
    ):
        memberships.setdefault(root, []).append(agg)
    out: dict[tuple[str, str | None], ClassTotals] = {}
    for rc, total, reserved, ratio, in_use, root in rows:
        for agg in (None, *memberships.get(root, ())):
            entry = out.get((rc, agg))
            if entry is None:
                entry = out[(rc, agg)] = ClassTotals(rc, agg)
            entry.total += total
            entry.reserved += reserved
            entry.capacity += (total - reserved) * ratio
            entry.used += int(in_use)
            entry.providers += 1
    return sorted(out.values(), key=lambda t: (t.aggregate is not None, t.aggregate or "", t.resource_class))
