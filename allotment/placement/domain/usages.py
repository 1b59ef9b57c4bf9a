"""Usage totals: per provider, and per project/user (optionally per consumer type)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement.domain.providers import Provider
from allotment.placement.store.tables import (
    allocations,
    consumer_types,
    consumers,
    inventories,
    projects,
    users,
)
from allotment.placement.store.tables import resource_classes as rc_t

__all__ = ["provider_usages", "total_usages", "total_usages_by_type"]


def provider_usages(conn: Connection, provider: Provider) -> dict[str, int]:
    """Used amount per inventoried class (0 when nothing is allocated)."""
    used = (
        sa.select(allocations.c.resource_class_id, sa.func.sum(allocations.c.used).label("used"))
        .where(allocations.c.resource_provider_id == provider.id)
        .group_by(allocations.c.resource_class_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(rc_t.c.name, sa.func.coalesce(used.c.used, 0))
        .select_from(
            inventories.join(rc_t, rc_t.c.id == inventories.c.resource_class_id).outerjoin(
                used, used.c.resource_class_id == inventories.c.resource_class_id
            )
        )
        .where(inventories.c.resource_provider_id == provider.id)
    )
    return {name: int(n) for name, n in rows}


def _scoped(q: sa.Select[Any], project_id: str, user_id: str | None) -> sa.Select[Any]:
    q = q.join(consumers, consumers.c.uuid == allocations.c.consumer_id).join(
        projects, projects.c.id == consumers.c.project_id
    )
    q = q.where(projects.c.external_id == project_id)
    if user_id:
        q = q.join(users, users.c.id == consumers.c.user_id).where(users.c.external_id == user_id)
    return q


def total_usages(conn: Connection, project_id: str, user_id: str | None = None) -> dict[str, int]:
    q = _scoped(
        sa.select(rc_t.c.name, sa.func.sum(allocations.c.used)).select_from(allocations),
        project_id,
        user_id,
    ).join(rc_t, rc_t.c.id == allocations.c.resource_class_id)
    return {name: int(n) for name, n in conn.execute(q.group_by(rc_t.c.name))}


def total_usages_by_type(
    conn: Connection, project_id: str, user_id: str | None = None, consumer_type: str | None = None
) -> dict[str, dict[str, int]]:
    """Usages grouped by consumer type, each with its ``consumer_count`` (microversion 1.38).

    ``consumer_type`` "all" folds every consumer into one group, "unknown" keeps only
    consumers without a type; another name keeps only that type.
    """
    base = _scoped(sa.select().select_from(allocations), project_id, user_id).outerjoin(
        consumer_types, consumer_types.c.id == consumers.c.consumer_type_id
    )
    if consumer_type == "unknown":
        base = base.where(consumers.c.consumer_type_id.is_(None))
    elif consumer_type and consumer_type != "all":
        base = base.where(consumer_types.c.name == consumer_type)
    fold = consumer_type in ("all", "unknown")
    group_col = sa.literal(consumer_type) if fold else consumer_types.c.name
    counts = {
        key: int(n)
        for key, n in conn.execute(
            base.add_columns(group_col.label("ct"), sa.func.count(sa.distinct(allocations.c.consumer_id))).group_by(
                *([] if fold else [consumer_types.c.name])
            )
        )
        if n
    }
    out: dict[str, dict[str, int]] = defaultdict(dict)
    rows = conn.execute(
        base.join(rc_t, rc_t.c.id == allocations.c.resource_class_id)
        .add_columns(group_col.label("ct"), rc_t.c.name, sa.func.sum(allocations.c.used))
        .group_by(*([] if fold else [consumer_types.c.name]), rc_t.c.name)
    )
    for ct, rc, used in rows:
        key = "unknown" if ct is None else ct  # consumers without a type
        out[key][rc] = int(used)
        out[key]["consumer_count"] = counts[ct]
    return dict(out)
