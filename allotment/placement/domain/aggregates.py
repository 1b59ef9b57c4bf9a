"""Aggregate membership of providers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from allotment.placement.domain import changes
from allotment.placement.domain.common import inserted_id, now
from allotment.placement.domain.providers import Provider, bump_generation
from allotment.placement.store.tables import aggregates, provider_aggregates

__all__ = ["get_aggregates", "set_aggregates"]


def get_aggregates(conn: Connection, provider: Provider) -> list[str]:
    rows = conn.execute(
        sa.select(aggregates.c.uuid)
        .join(provider_aggregates, provider_aggregates.c.aggregate_id == aggregates.c.id)
        .where(provider_aggregates.c.resource_provider_id == provider.id)
        .order_by(aggregates.c.uuid)
    )
    return list(rows.scalars())


def _ensure_aggregates(conn: Connection, uuids: list[str]) -> dict[str, int]:
    have = {
        r.uuid: r.id for r in conn.execute(sa.select(aggregates.c.uuid, aggregates.c.id).where(aggregates.c.uuid.in_(uuids)))
    }
    for agg in uuids:
        if agg in have:
            continue
        try:
            with conn.begin_nested():
                have[agg] = inserted_id(conn.execute(
                    aggregates.insert().values(uuid=agg, created_at=now())
                ))
        except IntegrityError:  # created concurrently by another writer
            have[agg] = conn.execute(sa.select(aggregates.c.id).where(aggregates.c.uuid == agg)).scalar_one()
    return have


def set_aggregates(conn: Connection, provider: Provider, uuids: list[str], *, bump: bool) -> None:
    """Make the provider a member of exactly ``uuids`` (created as needed).

    ``bump``: advance the provider generation (microversion 1.19 and later).
    """
    if bump:
        bump_generation(conn, provider)
    ids = _ensure_aggregates(conn, sorted(set(uuids)))
    current = {
        r.aggregate_id
        for r in conn.execute(
            sa.select(provider_aggregates.c.aggregate_id).where(
                provider_aggregates.c.resource_provider_id == provider.id
            )
        )
    }
    wanted = set(ids.values())
    changes.touch(conn, [provider.id])
    if current - wanted:
        conn.execute(
            provider_aggregates.delete().where(
                provider_aggregates.c.resource_provider_id == provider.id,
                provider_aggregates.c.aggregate_id.in_(sorted(current - wanted)),
            )
        )
    stamp = now()
    add = sorted(wanted - current)
    if add:
        conn.execute(
            provider_aggregates.insert(),
            [{"resource_provider_id": provider.id, "aggregate_id": a, "created_at": stamp} for a in add],
        )
