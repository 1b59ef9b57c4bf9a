"""Traits set on providers."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from allotment.placement.domain import names
from allotment.placement.domain.common import now
from allotment.placement.domain.exceptions import BadRequest
from allotment.placement.domain.providers import Provider, bump_generation
from allotment.placement.store.tables import provider_traits
from allotment.placement.store.tables import traits as trait_t

__all__ = ["get_traits", "set_traits"]


def get_traits(conn: Connection, provider: Provider) -> list[names.NamedRow]:
    rows = conn.execute(
        sa.select(trait_t.c.id, trait_t.c.name, trait_t.c.created_at, trait_t.c.updated_at)
        .join(provider_traits, provider_traits.c.trait_id == trait_t.c.id)
        .where(provider_traits.c.resource_provider_id == provider.id)
        .order_by(trait_t.c.name)
    )
    return [names.NamedRow(*r) for r in rows]


def set_traits(conn: Connection, provider: Provider, trait_names: list[str]) -> list[names.NamedRow]:
    """Make the provider's traits exactly ``trait_names`` (which must exist).

    One generation bump when the set changes; none when it is already that set (as upstream).
    """
    wanted = names.list_traits(conn, name_in=sorted(set(trait_names))) if trait_names else []
    missing = set(trait_names) - {t.name for t in wanted}
    if missing:
        raise BadRequest(f"No such trait {', '.join(sorted(missing))}")
    current = {
        r.trait_id
        for r in conn.execute(
            sa.select(provider_traits.c.trait_id).where(provider_traits.c.resource_provider_id == provider.id)
        )
    }
    want_ids = {t.id for t in wanted}
    if current == want_ids:
        return wanted
    bump_generation(conn, provider)
    if current - want_ids:
        conn.execute(
            provider_traits.delete().where(
                provider_traits.c.resource_provider_id == provider.id,
                provider_traits.c.trait_id.in_(sorted(current - want_ids)),
            )
        )
    stamp: dt.datetime = now()
    add = sorted(want_ids - current)
    if add:
        conn.execute(
            provider_traits.insert(),
            [{"resource_provider_id": provider.id, "trait_id": t, "created_at": stamp} for t in add],
        )
    return wanted
